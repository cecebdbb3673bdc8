// Small enhancements for every console page; each page works without them.
(function () {
  "use strict";
  // After htmx replaces part of a page, move focus to an element the new content asks for.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt && event.detail.elt.querySelector("[data-autofocus]");
    if (target) {
      target.focus();
    }
  });
})();
