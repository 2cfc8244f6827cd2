/* The playground: type a conversation, read the model's answer as the worker writes it.
 * The answer is asked for as a "suggest" job with stream=true; the worker writes the text so
 * far into job.result, polled here every 250 ms. Model text is untrusted: textContent only.
 *
 *   <form data-playground data-suggest-url="/api/suggestions/" data-jobs-url="/api/jobs/">
 *     <select name="model_version">…</select> <input name="temperature"> <input name="top_p">
 *     <input name="max_new_tokens"> <ol data-role="turns"></ol> <textarea name="message"></textarea>
 *     <button data-role="send"></button> <button data-role="stop"></button> <button data-role="reset"></button>
 *     <p data-role="error"></p> <p data-role="status"></p>
 *   </form>
 */
(function () {
  "use strict";
  var FINISHED = ["succeeded", "failed", "cancelled"];

  function wire(form) {
    var part = function (role) { return form.querySelector('[data-role="' + role + '"]'); };
    var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
    var conversation = [];
    var current = null;

    function addTurn(role, text) {
      var li = document.createElement("li");
      li.className = "turn " + role;
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = role === "user" ? "You" : "Model";
      var body = document.createElement("div");
      body.className = "text";
      body.textContent = text;
      li.appendChild(who);
      li.appendChild(body);
      part("turns").appendChild(li);
      return body;
    }

    function busy(on) {
      part("send").disabled = on;
      part("stop").hidden = !on;
    }

    function api(url, payload) {
      return fetch(url, {
        method: payload ? "POST" : "GET", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
        body: payload ? JSON.stringify(payload) : undefined,
      }).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) throw new Error(Object.keys(data).map(function (k) { return [].concat(data[k]).join(" "); }).join(" ") || r.statusText);
          return data;
        });
      });
    }

    function follow(jobId, target) {
      api(form.dataset.jobsUrl + jobId + "/").then(function (job) {
        if (job.result && typeof job.result.text === "string") target.textContent = job.result.text;
        if (FINISHED.indexOf(job.status) < 0) {
          part("status").textContent = job.result && job.result.partial ? "writing…" : (job.progress_message || job.status);
          setTimeout(function () { follow(jobId, target); }, 250);
          return;
        }
        busy(false);
        current = null;
        if (job.status === "succeeded") {
          conversation.push({ role: "assistant", content: job.result.text || "(empty answer)" });
          part("status").textContent = "done · seed " + job.result.seed + " · " + job.result.new_tokens + " tokens";
        } else {
          part("error").textContent = job.status === "cancelled" ? "Stopped." : job.error;
          conversation.pop();
          part("status").textContent = "";
        }
      }).catch(function (e) { part("error").textContent = e.message; busy(false); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var message = form.elements.message.value.trim();
      if (!message || current) return;
      part("error").textContent = "";
      conversation.push({ role: "user", content: message });
      addTurn("user", message);
      var target = addTurn("assistant", "");
      form.elements.message.value = "";
      busy(true);
      api(form.dataset.suggestUrl, {
        conversation: conversation, model_version: Number(form.elements.model_version.value), stream: true,
        temperature: Number(form.elements.temperature.value), top_p: Number(form.elements.top_p.value),
        max_new_tokens: Number(form.elements.max_new_tokens.value),
      }).then(function (job) { current = job.id; part("status").textContent = "queued…"; follow(job.id, target); })
        .catch(function (e) { part("error").textContent = e.message; conversation.pop(); busy(false); });
    });

    form.elements.message.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
    });
    part("stop").addEventListener("click", function () { if (current) api("/api/jobs/" + current + "/cancel/", {}); });
    part("reset").addEventListener("click", function () {
      conversation = [];
      part("turns").textContent = "";
      part("status").textContent = "";
      part("error").textContent = "";
    });
    busy(false);
  }

  document.querySelectorAll("[data-playground]").forEach(wire);
})();
