// Send Django's CSRF token with every htmx request (no inline script: CSP allows 'self' only).
document.body.addEventListener("htmx:configRequest", function (event) {
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  var input = document.querySelector("input[name=csrfmiddlewaretoken]");
  var token = match ? match[1] : (input ? input.value : null);
  if (token) { event.detail.headers["X-CSRFToken"] = token; }
});
