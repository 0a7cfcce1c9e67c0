// Live scan progress: every few seconds, each running scan's row is replaced by a fresh copy
// rendered by the server. Rows of finished scans carry no progress URL and stop being polled.
(function () {
  "use strict";
  var INTERVAL_MS = 3000;

  function refresh() {
    var rows = document.querySelectorAll("tr[data-progress-url]");
    rows.forEach(function (row) {
      fetch(row.getAttribute("data-progress-url"), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { return; }
          var holder = document.createElement("tbody");
          holder.innerHTML = html.trim();
          var fresh = holder.querySelector("tr");
          if (fresh && row.parentNode) { row.parentNode.replaceChild(fresh, row); }
        })
        .catch(function () { /* the next round tries again */ });
    });
    if (document.querySelector("tr[data-progress-url]")) {
      window.setTimeout(refresh, INTERVAL_MS);
    }
  }

  window.setTimeout(refresh, INTERVAL_MS);
})();
