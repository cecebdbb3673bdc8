// The campaign page's in-place pause and resume (htmx swaps <main> with the page the redirect leads
// to). htmx leaves error answers unswapped; a refusal (403: read-only key, missing security token) or
// a campaign gone meanwhile (404) is a page the person must see, so those are swapped in too.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    // detail.elt is the swap's target (<main>); the element that sent the request is requestConfig.elt.
    var sender = detail && detail.requestConfig && detail.requestConfig.elt;
    var form = sender && sender.closest && sender.closest("[data-show-errors]");
    if (form && detail.xhr && detail.xhr.status >= 400 && detail.xhr.status < 500) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
