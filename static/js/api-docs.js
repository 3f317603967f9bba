// Swagger UI at /api/docs/: its scrollable code samples (request and response examples) take the
// keyboard focus, so a keyboard user can scroll them (WCAG 2.1.1; axe-core: scrollable-region-focusable),
// and the request body editor of "Try it out" is named (WCAG 4.1.2; axe-core: label).
(function () {
  "use strict";
  var SELECTOR = ".swagger-ui pre:not([tabindex]), .swagger-ui .body-param__example:not([tabindex])";
  function focusable() {
    document.querySelectorAll(SELECTOR).forEach(function (el) {
      el.setAttribute("tabindex", "0");
    });
    document.querySelectorAll(".swagger-ui textarea:not([aria-label])").forEach(function (el) {
      el.setAttribute("aria-label", el.closest(".body-param") ? "Request body (JSON)" : "Value");
    });
  }
  new MutationObserver(focusable).observe(document.body, { childList: true, subtree: true });
  focusable();
})();
