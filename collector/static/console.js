// fleetwatch console: progressive enhancement only; every page works with
// JavaScript off. Loaded from the console's own origin (no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Ask before a destructive form is sent.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.form.addEventListener("submit", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });
  // Filters apply as soon as a select changes.
  document.querySelectorAll("#device-filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
});
