// nikgate portal: the batch progress bar (polls the job's status; no NIK in any URL).
"use strict";
(function () {
  var job = document.getElementById("job");
  if (!job) { return; }
  var url = job.getAttribute("data-status");
  var bar = document.getElementById("bar");
  var message = document.getElementById("job-message");
  var download = document.getElementById("job-download");
  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (typeof s.total === "number") { bar.max = s.total; bar.value = s.done; }
        message.textContent = s.message;
        job.setAttribute("data-state", s.state);
        if (s.state === "running") { setTimeout(poll, 300); }
        else if (s.state !== "gone") { download.hidden = false; }
      })
      .catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
