// While a page shows work in progress (a queued verification, a running deployment), fetch it again every few
// seconds and swap in the parts marked data-live: the worker stores the results, the page only reads them.
// Messages and whatever the admin is typing elsewhere on the page stay as they are.
(function () {
  var mark = document.querySelector("[data-refresh]");
  if (!mark) return;
  var delay = 1000 * (parseInt(mark.dataset.refresh, 10) || 3);
  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live]").forEach(function (old) {
      var replacement = fresh.getElementById(old.id);
      if (replacement) old.replaceWith(document.importNode(replacement, true));
    });
    if (fresh.querySelector("[data-refresh]")) setTimeout(poll, delay);
  }
  function poll() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(swap)
      .catch(function () { setTimeout(poll, delay * 2); });
  }
  setTimeout(poll, delay);
})();
