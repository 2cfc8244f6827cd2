/* A live progress bar for one job, polled from the jobs API.
 *
 *   <section data-job-progress data-job-url="/api/jobs/7/" data-cancel-url="/api/jobs/7/cancel/">
 *     <progress data-role="bar"></progress> <span data-role="status"></span> <span data-role="message"></span>
 *     <span data-role="speed"></span> <p data-role="error"></p> <button data-role="cancel">Cancel</button>
 *     <input type="hidden" name="csrfmiddlewaretoken" value="…">
 *   </section>
 */
(function () {
  "use strict";
  var FINISHED = ["succeeded", "failed", "cancelled"];

  function wire(root) {
    var part = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
    var csrf = root.querySelector('input[name="csrfmiddlewaretoken"]');
    var cancel = part("cancel");

    function show(job) {
      part("bar").value = job.progress;
      part("status").textContent = job.status + (job.cancel_requested && job.status === "running" ? " (stopping…)" : "");
      part("message").textContent = job.progress_message || "";
      var tps = job.metrics && job.metrics.tokens_per_s;
      part("speed").textContent = tps ? "· " + tps + " tokens/s" : "";
      part("error").textContent = job.error || "";
      if (cancel) cancel.hidden = FINISHED.indexOf(job.status) >= 0;
      return FINISHED.indexOf(job.status) < 0;
    }

    function poll() {
      fetch(root.dataset.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) { if (show(job)) setTimeout(poll, 1000); })
        .catch(function () { setTimeout(poll, 3000); });
    }

    if (cancel) {
      cancel.addEventListener("click", function () {
        cancel.disabled = true;
        fetch(root.dataset.cancelUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "X-CSRFToken": csrf ? csrf.value : "", Accept: "application/json" },
        }).then(function (r) { return r.json(); }).then(show);
      });
    }
    poll();
  }

  document.querySelectorAll("[data-job-progress]").forEach(wire);
})();
