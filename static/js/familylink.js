// Send Django's CSRF token with every htmx request (no inline script: CSP allows 'self' only).
document.body.addEventListener("htmx:configRequest", function (event) {
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  var input = document.querySelector("input[name=csrfmiddlewaretoken]");
  var token = match ? match[1] : (input ? input.value : null);
  if (token) { event.detail.headers["X-CSRFToken"] = token; }
});

// A checklist step submitted through htmx is swapped in place: without this, focus falls back to
// the top of the page and a keyboard user loses their place. Keep it on the step just worked:
// on the field at fault when the step was refused, else on the step's own control (Undo after
// Mark done).
var lastStepId = null;
document.body.addEventListener("htmx:beforeRequest", function (event) {
  var step = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest(".fl-step") : null;
  lastStepId = step ? step.id : null;
});
document.body.addEventListener("htmx:afterSettle", function () {
  if (!lastStepId) { return; }
  var step = document.getElementById(lastStepId);
  lastStepId = null;
  if (!step) { return; }
  var target = step.querySelector("[aria-describedby]") ||
    step.querySelector("button, select, input:not([type=hidden]), a[href]");
  if (target) { target.focus(); }
});

// A form posted twice by a double click did its work twice (two cases claimed, the message naming
// only the second). A page posts each form once; the page that answers is a fresh one. htmx forms
// are left to htmx, which swaps them in place. Back to a page kept in memory unlocks its forms.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form || (form.getAttribute("method") || "").toLowerCase() !== "post" || form.hasAttribute("hx-post")) {
    return;
  }
  if (form.dataset.flSubmitted) {
    event.preventDefault();
    return;
  }
  form.dataset.flSubmitted = "1";
}, true);
window.addEventListener("pageshow", function (event) {
  if (!event.persisted) { return; }
  document.querySelectorAll("form[data-fl-submitted]").forEach(function (form) {
    delete form.dataset.flSubmitted;
  });
});

// A form sent back with errors: the keyboard starts at the error summary (each message links to
// its field), as on the intake form, not at the top of the page. No inline script (CSP).
(function () {
  var summary = document.getElementById("error-summary");
  if (summary) {
    summary.focus();
  }
})();
