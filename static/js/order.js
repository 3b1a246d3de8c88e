// Live progress of an ACME order: poll the status endpoint until the order is final.
(function () {
  var box = document.getElementById("order");
  if (!box || box.dataset.active !== "1") return;
  var url = box.dataset.statusUrl, delay = 300;
  function esc(text) { var d = document.createElement("div"); d.textContent = text; return d.innerHTML; }
  function render(data) {
    document.getElementById("steps").innerHTML = data.events.map(function (e) {
      return '<li class="' + esc(e.status) + '"><strong>' + esc(e.label) + '</strong> <span class="muted small">' +
        esc(e.at) + '</span>' + (e.message ? ' <span class="small">' + esc(e.message) + '</span>' : '') + '</li>';
    }).join("");
    if (!data.active) { window.location.reload(); return; }
    var waiting = document.getElementById("waiting");
    if (waiting && !data.waiting_for_queue) {
      waiting.className = "muted"; waiting.textContent = "Working… this page updates by itself.";
    }
    delay = Math.min(delay * 1.3, 2000);
    setTimeout(poll, delay);
  }
  function poll() {
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(render)
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, delay);
})();
