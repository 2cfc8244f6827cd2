// Writing tasks: a demonstration (one ideal answer) and a dialogue (both sides of a chat).
//
//   <form data-controller="demonstration">
//     <template data-suggestion data-candidate-id="7">model text</template>   ← inert, escaped
//     <textarea data-answer name="text"></textarea> <div data-preview></div>
//     <input type="hidden" data-field="suggestion" name="suggestion_candidate_id">
//   </form>
//
// "Insert model suggestion" copies a suggestion into the editor (cycling through them); the
// server records which one and computes how much it was edited. For later dialogue turns a
// suggestion is a "suggest" job: POST data-suggest-url, then poll /api/jobs/<id>/. Inserting
// over text the labeler wrote or edited asks first: their work is never replaced silently.
import { apiErrorText } from "./errors.js";

const REPLACE_QUESTION = "Replace what you wrote with the model suggestion? Your text in this box will be lost.";

function suggestionsOf(root) {
  return Array.from(root.querySelectorAll("template[data-suggestion]")).map((t) => ({
    id: Number(t.dataset.candidateId),
    text: t.content.textContent,
  }));
}

function csrfToken(root) {
  return root.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

export function mountDemonstration(root) {
  const answer = root.querySelector("[data-answer]");
  const preview = root.querySelector("[data-preview]");
  const guide = root.querySelector("[data-length-guide]");
  const meter = root.querySelector("[data-length-meter]");
  const chosen = root.querySelector("[data-field=suggestion]");
  const status = root.querySelector("[data-suggestion-status]");
  const suggestions = suggestionsOf(root);
  const tabs = root.querySelectorAll("[data-tab]");
  let next = 0;

  function count() {
    const words = answer.value.trim() ? answer.value.trim().split(/\s+/).length : 0;
    guide.textContent = `${words} word${words === 1 ? "" : "s"} · ${answer.value.length} characters · good answers are usually 50–400 words`;
    meter.value = Math.min(words, 600);
  }

  function showTab(name) {
    tabs.forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
    preview.hidden = name !== "preview";
    answer.hidden = name === "preview";
  }

  let inserted = null; // the text last inserted, to tell the labeler's own edits from it

  function insert() {
    if (!suggestions.length) return;
    if (answer.value.trim() && answer.value !== inserted && !window.confirm(REPLACE_QUESTION)) return;
    const s = suggestions[next % suggestions.length];
    next += 1;
    answer.value = s.text;
    inserted = s.text;
    chosen.value = String(s.id);
    status.textContent = `Suggestion ${((next - 1) % suggestions.length) + 1} of ${suggestions.length} inserted: edit it into the ideal answer.`;
    showTab("write");
    answer.focus();
    count();
  }

  root.addEventListener("click", (event) => {
    const tab = event.target.closest("[data-tab]");
    if (tab) showTab(tab.dataset.tab);
    if (event.target.closest("[data-insert-suggestion]")) insert();
  });
  answer.addEventListener("input", () => { count(); status.textContent = ""; });
  root.onKey = (event) => {
    if (event.key === "i") { insert(); return true; }
    if (event.key === "p") {
      const previewTab = root.querySelector("[data-tab=preview]");
      if (preview.hidden) previewTab.click(); else showTab("write");
      return true;
    }
    if (event.key === "Enter" || event.key === "w") { showTab("write"); answer.focus(); return true; }
    return false;
  };
  root.validate = () => (answer.value.trim() ? "" : "Write an answer before submitting.");
  root.restore = count;
  count();
}

export function mountDialogue(root) {
  const list = root.querySelector("[data-turns]");
  const template = root.querySelector("template[data-turn-template]");
  const addButton = root.querySelector("[data-add-turn]");
  const promptTurns = Number(root.dataset.promptTurns);
  const candidates = suggestionsOf(root);
  let nextCandidate = 0;

  const turns = () => Array.from(list.querySelectorAll("li[data-role]"));
  const nextRole = () => (turns().at(-1)?.dataset.role === "user" ? "assistant" : "user");
  const conversation = (upTo) => turns().slice(0, upTo).map((li) => ({
    role: li.dataset.role, content: li.querySelector("textarea").value,
  }));

  function renumber() {
    turns().forEach((li, i) => {
      const ta = li.querySelector("textarea");
      ta.id = `turn-${root.dataset.assignment}-${i}`;
      li.querySelector("label").htmlFor = ta.id;
      const n = li.querySelector("[data-turn-number]");
      if (n) n.textContent = `(turn ${i + 1})`;
    });
    const role = nextRole();
    addButton.firstChild.textContent = `Add ${role} turn `;
  }

  function addTurn(focus = true) {
    const role = nextRole();
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.role = role;
    li.classList.add(`turn-${role}`);
    li.querySelector("[data-role-label]").textContent = role === "user" ? "User" : "Assistant";
    if (role === "user") li.querySelector("[data-suggest]").remove();
    list.append(li);
    renumber();
    if (focus) li.querySelector("textarea").focus();
    return li;
  }

  // The first assistant reply to the unchanged prompt can start from the task's candidates;
  // any later turn asks the model (a "suggest" job).
  function promptUnchanged(index) {
    return index === promptTurns && turns().slice(0, promptTurns).every((li) => {
      const ta = li.querySelector("textarea");
      return ta.value === ta.defaultValue;
    });
  }

  async function suggest(li) {
    const index = turns().indexOf(li);
    const ta = li.querySelector("textarea");
    const status = li.querySelector("[data-suggest-status]");
    const button = li.querySelector("[data-suggest]");
    if (ta.value.trim() && ta.value !== li.inserted && !window.confirm(REPLACE_QUESTION)) return;
    const empty = conversation(index).findIndex((m) => !m.content.trim());
    if (empty >= 0) {
      status.textContent = `Write turn ${empty + 1} first: the model answers the conversation so far.`;
      return;
    }
    if (promptUnchanged(index) && candidates.length) {
      const c = candidates[nextCandidate % candidates.length];
      nextCandidate += 1;
      ta.value = c.text;
      li.inserted = c.text;
      li.dataset.suggestion = JSON.stringify({ turn: index, candidate_id: c.id });
      status.textContent = `Suggestion ${((nextCandidate - 1) % candidates.length) + 1} of ${candidates.length} inserted.`;
      ta.focus();
      return;
    }
    button.disabled = true;
    status.textContent = "Asking the model…";
    try {
      const headers = { "Content-Type": "application/json", "X-CSRFToken": csrfToken(root) };
      const response = await fetch(root.dataset.suggestUrl, {
        method: "POST", headers, credentials: "same-origin",
        body: JSON.stringify({ conversation: conversation(index) }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 503) {
        button.textContent = "Suggestions unavailable";
        status.textContent = body.detail || "Model suggestions are unavailable.";
        return;
      }
      if (!response.ok) throw new Error(apiErrorText(body, response.status));
      const job = await poll(body.job_id, status);
      ta.value = job.result.text;
      li.inserted = job.result.text;
      li.dataset.suggestion = JSON.stringify({ turn: index, job_id: body.job_id });
      status.textContent = "Suggestion inserted.";
      button.disabled = false;
      ta.focus();
    } catch (error) {
      const reason = error instanceof TypeError ? "the server could not be reached; try again." : error.message;
      status.textContent = `No suggestion: ${reason}`;
      button.disabled = false;
    }
  }

  async function poll(jobId, status) {
    for (let i = 0; i < 120; i += 1) {
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
      const response = await fetch(`/api/jobs/${jobId}/`, { credentials: "same-origin" });
      const job = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(apiErrorText(job, response.status));
      if (job.status === "succeeded") return job;
      if (job.status === "cancelled") throw new Error("the model's job was cancelled.");
      if (job.status === "failed") throw new Error(job.error ? `the model failed (${job.error})` : "the model failed.");
      status.textContent = `Asking the model… ${Math.round(100 * (job.progress || 0))}%`;
    }
    throw new Error("the model took too long");
  }

  root.addEventListener("click", (event) => {
    if (event.target.closest("[data-add-turn]")) addTurn(true);
    const remove = event.target.closest("[data-remove-turn]");
    if (remove) { remove.closest("li").remove(); renumber(); }
    const s = event.target.closest("[data-suggest]");
    if (s) suggest(s.closest("li"));
  });
  root.addEventListener("input", (event) => {
    // An edited turn keeps its suggestion record: the edit distance is measured on submit.
    if (event.target.matches("[data-turn-text]")) {
      const li = event.target.closest("li");
      li.dataset.edited = "1";
      const status = li.querySelector("[data-suggest-status]");
      if (status && !li.querySelector("[data-suggest]")?.disabled) status.textContent = ""; // stale news
    }
  });

  root.onKey = (event) => {
    if (event.key === "a") { addTurn(); return true; }
    if (event.key === "i") {
      const last = turns().filter((li) => li.dataset.role === "assistant").at(-1);
      if (last && last.querySelector("[data-suggest]")) { suggest(last); return true; }
    }
    return false;
  };

  root.validate = () => {
    const conv = conversation();
    if (conv.some((m) => !m.content.trim())) return "Fill in every turn, or remove the empty ones.";
    if (!conv.length || conv.at(-1).role !== "assistant") return "A dialogue must end with an assistant turn.";
    return "";
  };
  root.beforeSubmit = () => {
    root.querySelector("[data-field=conversation]").value = JSON.stringify(conversation());
    const used = turns().map((li) => li.dataset.suggestion).filter(Boolean).map((s) => JSON.parse(s));
    root.querySelector("[data-field=suggestions]").value = JSON.stringify(used);
  };
  root.restore = () => {
    let saved = [], used = [];
    try {
      saved = JSON.parse(root.querySelector("[data-field=conversation]").value || "[]");
      used = JSON.parse(root.querySelector("[data-field=suggestions]").value || "[]");
    } catch { return; }
    if (!Array.isArray(saved) || saved.length < promptTurns) return;
    turns().slice(promptTurns).forEach((li) => li.remove());
    saved.forEach((message, i) => {
      if (i < promptTurns) return; // the prompt is the task's, not the draft's
      let li = turns()[i];
      if (!li) {
        li = addTurn(false);
        if (li.dataset.role !== message.role) return;
      }
      li.querySelector("textarea").value = String(message.content ?? "");
    });
    for (const s of Array.isArray(used) ? used : []) {
      const li = turns()[s.turn];
      if (li) li.dataset.suggestion = JSON.stringify(s);
    }
    if (turns().at(-1)?.dataset.role === "user") addTurn(false);
    renumber();
  };
  if (!turns().length || turns().at(-1).dataset.role === "user") addTurn(false);
  renumber();
}
