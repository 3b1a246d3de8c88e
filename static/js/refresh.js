// Reload the page every few seconds while it shows work in progress (a queued verification, a running deployment):
// the worker stores the results, the page only reads them.
(function () {
  var mark = document.querySelector("[data-refresh]");
  if (!mark) return;
  setTimeout(function () { window.location.reload(); }, 1000 * (parseInt(mark.dataset.refresh, 10) || 3));
})();
