// Small enhancements for every console page; each page works without them.
(function () {
  "use strict";
  // A form button marked data-confirm asks before it submits (the server asks again on a page of its own
  // for deletes and rollbacks; this only saves a round trip for a slip of the finger).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
  // After htmx replaces part of a page, move focus to an element the new content asks for.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt && event.detail.elt.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  });
})();
