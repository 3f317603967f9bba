// Intake form: after a round trip, put the keyboard where the agent needs to be next:
// the error summary, the duplicate review, or the row just added. No inline script (CSP).
(function () {
  var form = document.getElementById("intake-form");
  var target = document.getElementById("error-summary") || document.getElementById("review-summary");
  if (!target && form && form.dataset.focus) {
    target = document.getElementById(form.dataset.focus);
  }
  if (target) {
    target.focus();
    if (target.scrollIntoView) { target.scrollIntoView({block: "center"}); }
  }
})();
