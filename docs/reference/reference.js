// Renders the gateway's own description with Swagger UI. A file of its own, not an inline
// script, so the page's Content-Security-Policy can forbid inline scripts.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "../openapi.json",
    dom_id: "#reference",
    deepLinking: true,
    // Swagger UI would otherwise send the description to an online validator for a badge.
    validatorUrl: null,
  });
});
