// Ranklab workspace: mounts one behaviour per data-controller, re-mounts after htmx swaps,
// and owns what every task shares: dialogs, global keys, active-time measurement, errors.
//
//   <form data-task-root data-task-form="ranking" data-controller="ranking"> … </form>
//   <button data-open-dialog="guidelines">Guidelines</button>  <dialog id="guidelines">…</dialog>
//
// A controller may set on its root: el.validate() -> "" or an error message (blocks submit),
// el.beforeSubmit() (write hidden fields), el.onKey(event) -> true when it handled the key.
import { mountRanking } from "./ranking.js";
import { mountDemonstration, mountDialogue } from "./demonstration.js";

const controllers = { ranking: mountRanking, demonstration: mountDemonstration, dialogue: mountDialogue };

// --- active time on task: counts only while the tab is visible --------------------------------
function startTimer(root) {
  root.activeMs = 0;
  root.visibleSince = document.visibilityState === "visible" ? performance.now() : null;
  root.elapsed = () => root.activeMs + (root.visibleSince === null ? 0 : performance.now() - root.visibleSince);
}

document.addEventListener("visibilitychange", () => {
  document.querySelectorAll("[data-task-root]").forEach((root) => {
    if (!root.elapsed) return;
    if (document.visibilityState === "visible") {
      if (root.visibleSince === null) root.visibleSince = performance.now();
    } else if (root.visibleSince !== null) {
      root.activeMs += performance.now() - root.visibleSince;
      root.visibleSince = null;
    }
  });
});

// --- lease renewal: a labeler who takes long keeps their task while the tab is visible ----------
//   <form data-task-root data-renew-url="/api/assignments/7/renew/" data-renew-ms="600000">
function startRenewal(root) {
  const url = root.dataset.renewUrl;
  const every = Number(root.dataset.renewMs);
  if (!url || !every) return;
  const timer = setInterval(async () => {
    if (!root.isConnected) return clearInterval(timer); // the next task replaced this one
    if (document.visibilityState !== "visible") return;
    const token = root.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
    try {
      const response = await fetch(url, { method: "POST", headers: { "X-CSRFToken": token, Accept: "application/json" },
                                           credentials: "same-origin" });
      if (response.ok) return;
      const body = await response.json().catch(() => ({}));
      const detail = Array.isArray(body.detail) ? body.detail.join(" ") : body.detail;
      clearInterval(timer);
      showError(root, detail || `Your lease on this task could not be renewed (${response.status}).`);
    } catch { /* offline for a moment: the next tick tries again */ }
  }, every);
}

function mount(scope) {
  const found = scope.matches?.("[data-controller]") ? [scope] : [];
  found.push(...scope.querySelectorAll("[data-controller]"));
  for (const el of found) {
    if (el.mounted) continue;
    el.mounted = true;
    if (el.matches("[data-task-root]")) startTimer(el), startRenewal(el);
    for (const name of el.dataset.controller.split(/\s+/)) controllers[name]?.(el);
    if (el.matches("[data-task-root]")) restoreDraft(el);
    el.dataset.mounted = "true"; // lets tests (and CSS) know the behaviour is live
  }
}

// --- drafts: nothing typed or ranked is lost to a reload, until the task is submitted -------
const SKIP_FIELDS = new Set(["csrfmiddlewaretoken", "time_on_task_ms"]);
const draftKey = (root) => `ranklab:draft:${root.dataset.assignment}`;
// Assignments the server says are answered (from another tab, or saved as the labeler was paused): no drafts.
const answeredElsewhere = new Set();

function saveDraft(root) {
  root.beforeSubmit?.();
  const entries = Array.from(new FormData(root)).filter(([name]) => !SKIP_FIELDS.has(name));
  try { localStorage.setItem(draftKey(root), JSON.stringify(entries)); } catch { /* storage full or off */ }
}

function restoreDraft(root) {
  let entries;
  try { entries = JSON.parse(localStorage.getItem(draftKey(root)) || "null"); } catch { entries = null; }
  if (!Array.isArray(entries) || !entries.length) return;
  const byName = new Map();
  for (const [name, value] of entries) byName.set(name, [...(byName.get(name) || []), value]);
  for (const el of root.elements) {
    if (!el.name || SKIP_FIELDS.has(el.name) || !byName.has(el.name)) continue;
    const values = byName.get(el.name);
    if (el.type === "radio" || el.type === "checkbox") el.checked = values.includes(el.value);
    else if (el.type !== "file") el.value = values[0];
  }
  root.restore?.();
  root.querySelectorAll("input[type=radio]:checked, input[type=checkbox]:checked").forEach((el) => {
    el.dispatchEvent(new Event("change", { bubbles: true }));
  });
  showError(root, "");
  const note = root.querySelector("[data-draft-note]");
  if (note) note.textContent = "Your unsent work on this task was restored.";
}

let saveTimer = null;
for (const type of ["input", "change", "ranklab:changed"]) {
  document.addEventListener(type, (event) => {
    const root = event.target.closest?.("form[data-task-root]");
    if (!root?.dataset.assignment || !root.dataset.mounted) return; // not while mounting or restoring
    if (answeredElsewhere.has(root.dataset.assignment)) return;
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => saveDraft(root), 250);
  });
}

// beforeSwap (fired on the swap target), not afterRequest: after the swap the form is detached
// and its events no longer bubble here.
document.addEventListener("htmx:beforeSwap", (event) => {
  const form = event.detail.requestConfig?.elt?.closest?.("form[data-task-form]");
  if (!form || event.detail.isError || !form.dataset.assignment) return;
  clearTimeout(saveTimer);
  localStorage.removeItem(`ranklab:draft:${form.dataset.assignment}`);
});

export function showError(form, message, { sticky = false } = {}) {
  const box = form?.querySelector("[data-error]");
  if (!box) return;
  box.textContent = message;
  box.toggleAttribute("data-sticky", sticky && Boolean(message));
}

// A message about what the labeler did last goes away as soon as they do something else;
// one about the task itself (data-sticky: it was already submitted) stays.
for (const type of ["input", "change", "ranklab:changed"]) {
  document.addEventListener(type, (event) => {
    const form = event.target.closest?.("form[data-task-form]");
    const box = form?.querySelector("[data-error]");
    if (box?.textContent && !box.hasAttribute("data-sticky") && form.dataset.mounted) box.textContent = "";
  });
}

// --- submitting ---------------------------------------------------------------------------
document.addEventListener("htmx:confirm", (event) => {
  const form = event.target;
  if (!form.matches?.("form[data-task-form]")) return;
  const problem = form.validate ? form.validate() : "";
  if (problem) {
    event.preventDefault();
    showError(form, problem);
    return;
  }
  showError(form, "");
  form.beforeSubmit?.();
  const time = form.querySelector("[data-field=time]");
  const root = document.querySelector("#workspace [data-task-root]");
  if (time && root?.elapsed) time.value = String(Math.round(root.elapsed()));
});

document.addEventListener("htmx:responseError", (event) => {
  const form = event.detail.elt.closest("form");
  const { status, responseText } = event.detail.xhr;
  const text = responseText && responseText.length <= 500 && !responseText.trimStart().startsWith("<")
    ? responseText : `The server refused this (${status}); try again, or reload the page.`;
  const saved = Boolean(event.detail.xhr.getResponseHeader("X-Ranklab-Saved"));
  if (status === 409 || saved) {
    // Answered already (another tab), or saved before the labeler was paused: no draft to keep.
    answeredElsewhere.add(form.dataset.assignment);
    clearTimeout(saveTimer);
    localStorage.removeItem(`ranklab:draft:${form.dataset.assignment}`);
  }
  if (status === 409) {
    showError(form, text, { sticky: true });
    const next = document.createElement("a");
    next.className = "button primary next-task";
    next.href = window.location.pathname;
    next.textContent = "Go to the next task";
    form.querySelector("[data-error]").append(" ", next);
    return;
  }
  showError(form, text, { sticky: saved });
});

document.addEventListener("htmx:sendError", (event) => {
  showError(event.detail.elt.closest("form"), "Could not reach the server. Your work is still here: try again.");
});

document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id !== "workspace") return;
  window.scrollTo(0, 0);
  const title = event.detail.target.querySelector(".task-title, [data-task-root]");
  title?.focus({ preventScroll: true });
});

// --- dialogs ------------------------------------------------------------------------------
function openDialog(id) {
  const dialog = document.getElementById(id);
  if (!dialog || dialog.open) return;
  dialog.showModal();
  dialog.querySelector("input:not([type=hidden]), textarea")?.focus();
}

document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open-dialog]");
  if (opener) openDialog(opener.dataset.openDialog);
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) closer.closest("dialog")?.close();
});

// --- keys -----------------------------------------------------------------------------------
function isTextField(el) {
  if (!el || el === document.body) return false;
  if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  return el.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "reset"].includes(el.type);
}

document.addEventListener("keydown", (event) => {
  const target = event.target;
  const taskRoot = document.querySelector("#workspace [data-task-root]");
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    const form = target.closest?.("form[data-task-form]") || taskRoot;
    if (form?.requestSubmit) {
      event.preventDefault();
      form.requestSubmit();
    }
    return;
  }
  if (event.key === "Escape" && isTextField(target) && !target.closest("dialog")) {
    target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || isTextField(target)) return;
  if (document.querySelector("dialog[open]")) {
    if (event.key === "?") document.querySelector("dialog[open]").close();
    return;
  }
  if (event.key === "?") return openDialog("keymap"), event.preventDefault();
  if (event.key === "g") return openDialog("guidelines"), event.preventDefault();
  if (event.key === "s" && document.getElementById("skip-dialog")) return openDialog("skip-dialog"), event.preventDefault();
  if (taskRoot?.onKey && taskRoot.onKey(event)) event.preventDefault();
});

document.addEventListener("htmx:load", (event) => mount(event.target));
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mount(document.body));
else mount(document.body);
