// Follows a finance job (export or reconciliation) on its page: polls the progress URL once a second,
// moves the progress bar, and reloads the page when the job is done to show its result. Served as a
// static file (no inline script), so it runs under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  "use strict";
  var box = document.getElementById("job-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  var bar = document.getElementById("job-progress-bar");
  var text = document.getElementById("job-progress-text");
  var status = document.getElementById("job-status");

  function show(p) {
    if (p.total) {
      bar.max = p.total;
      bar.value = p.done;
      text.textContent = p.done.toLocaleString() + " of " + p.total.toLocaleString() + " rows (" + p.percent + "%)";
    } else {
      bar.removeAttribute("value");
      text.textContent = p.done.toLocaleString() + " rows so far";
    }
    status.textContent = p.status_label;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (p) {
        if (!p) { window.setTimeout(poll, 3000); return; }
        show(p);
        if (p.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
}());
