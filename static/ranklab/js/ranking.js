// Ranking board: order K responses best to worst, with ties, by keyboard, click/tap or drag.
//
//   <form data-controller="ranking" data-k="4">
//     <input type="hidden" name="tiers" data-field="tiers">   ← JSON [[3], [1, 4], [2]] of positions
//     <ol data-board></ol> <div data-pool></div>
//     <article data-position="1"> … <span data-rank-label></span> radios rating_1, checkboxes flags_1 </article>
//   </form>
//
// Keys: digits place (or select) a response, ↑/k ↓/j move it, = or t tie it with the tier
// above, u untie, x/Backspace unrank, Shift+digit rate it, r go to its rating, f its flags,
// n none acceptable, c can't judge. Dragging uses pointer events, so it works with a mouse,
// a pen or a finger.

const ORDINAL = ["1st", "2nd", "3rd"];
const ordinal = (n) => ORDINAL[n - 1] || `${n}th`;

export function mountRanking(root) {
  const k = Number(root.dataset.k);
  const board = root.querySelector("[data-board]");
  const pool = root.querySelector("[data-pool]");
  const field = root.querySelector("[data-field=tiers]");
  const positions = Array.from({ length: k }, (_, i) => i + 1);
  let tiers = []; // arrays of positions, best first
  let selected = null;

  const tierOf = (p) => tiers.findIndex((t) => t.includes(p));
  const outcome = () => root.querySelector("input[name=outcome]:checked")?.value || "ranked";
  const card = (p) => root.querySelector(`article[data-position="${p}"]`);

  // In place: callers hold references to tier arrays across a removal.
  function remove(p) {
    for (const t of tiers) {
      const i = t.indexOf(p);
      if (i >= 0) t.splice(i, 1);
    }
    tiers = tiers.filter((t) => t.length);
  }

  function chip(p) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "chip";
    b.dataset.pos = String(p);
    b.textContent = String(p);
    b.setAttribute("aria-pressed", String(selected === p));
    const ti = tierOf(p);
    b.setAttribute("aria-label", ti < 0 ? `Response ${p}, not ranked` : `Response ${p}, ranked ${ordinal(ti + 1)}`);
    return b;
  }

  function gap(i, label) {
    const li = document.createElement("li");
    li.className = label ? "gap gap-empty" : "gap";
    li.dataset.gap = String(i);
    if (label) li.textContent = label;
    else li.setAttribute("aria-hidden", "true");
    return li;
  }

  function render() {
    board.replaceChildren();
    if (!tiers.length) board.append(gap(0, "Type a response's number or drag it here"));
    else board.append(gap(0));
    tiers.forEach((tier, i) => {
      const li = document.createElement("li");
      li.className = tier.length > 1 ? "tier tied" : "tier";
      li.dataset.tier = String(i);
      const rank = document.createElement("span");
      rank.className = "tier-rank";
      rank.textContent = tier.length > 1 ? `${ordinal(i + 1)} (tie)` : ordinal(i + 1);
      li.append(rank, ...tier.map(chip));
      board.append(li, gap(i + 1));
    });
    const unranked = positions.filter((p) => tierOf(p) < 0);
    pool.replaceChildren();
    const label = document.createElement("span");
    label.className = "pool-label";
    label.textContent = unranked.length ? "Not ranked yet:" : "All responses ranked.";
    pool.append(label, ...unranked.map(chip));
    pool.dataset.pool = "";
    for (const p of positions) {
      const ti = tierOf(p);
      const c = card(p);
      c.classList.toggle("is-selected", selected === p);
      const tied = ti >= 0 && tiers[ti].length > 1;
      // Also a button: tap "Rank next" on a card to put it at the bottom of the ranking.
      c.querySelector("[data-rank-label]").textContent = ti < 0 ? "Rank next" : `Ranked ${ordinal(ti + 1)}${tied ? " (tie)" : ""}`;
    }
    field.value = JSON.stringify(tiers);
    root.dispatchEvent(new CustomEvent("ranklab:changed", { bubbles: true })); // saves the draft
    const summary = root.querySelector("[data-rank-summary]");
    if (summary) {
      const left = positions.length - tiers.reduce((n, t) => n + t.length, 0);
      summary.textContent = tiers.length
        ? `${tiers.map((t) => t.join(" = ")).join(" › ")}${left ? ` · ${left} left` : " · all ranked"}`
        : "Nothing ranked yet";
    }
    const said = tiers.map((t) => t.join(" tied with ")).join(", then ");
    root.querySelector("[data-announce]").textContent = said ? `Ranking: ${said}.` : "Nothing ranked yet.";
    root.classList.toggle("outcome-other", outcome() !== "ranked");
  }

  const actions = {
    place(p) {
      if (tierOf(p) < 0) tiers.push([p]);
      selected = p;
    },
    up(p) {
      const ti = tierOf(p);
      if (ti < 0) return;
      if (tiers[ti].length > 1) { remove(p); tiers.splice(ti, 0, [p]); }
      else if (ti > 0) [tiers[ti - 1], tiers[ti]] = [tiers[ti], tiers[ti - 1]];
    },
    down(p) {
      const ti = tierOf(p);
      if (ti < 0) return;
      if (tiers[ti].length > 1) { remove(p); tiers.splice(ti + 1, 0, [p]); }
      else if (ti < tiers.length - 1) [tiers[ti + 1], tiers[ti]] = [tiers[ti], tiers[ti + 1]];
    },
    tie(p) {
      const ti = tierOf(p);
      if (ti < 0 || tiers.length < 2) return;
      const target = tiers[ti > 0 ? ti - 1 : 1];
      if (target.includes(p)) return;
      remove(p);
      target.push(p);
    },
    untie(p) {
      const ti = tierOf(p);
      if (ti < 0 || tiers[ti].length < 2) return;
      remove(p);
      tiers.splice(ti + 1, 0, [p]);
    },
    unrank(p) {
      remove(p);
      selected = null;
    },
  };

  function act(name, p = selected) {
    if (p === null) return;
    actions[name](p);
    render();
    const again = root.querySelector(`[data-board] .chip[data-pos="${p}"], [data-pool] .chip[data-pos="${p}"]`);
    if (again && root.contains(document.activeElement) && document.activeElement.classList.contains("chip")) again.focus();
  }

  function rate(p, value) {
    const radio = root.querySelector(`input[name="rating_${p}"][value="${value}"]`);
    if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
  }

  function setOutcome(value) {
    const current = outcome();
    const radio = root.querySelector(`input[name=outcome][value="${current === value ? "ranked" : value}"]`);
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  }

  root.addEventListener("change", (event) => {
    const t = event.target;
    if (t.name === "outcome") {
      const cj = root.querySelector("[data-cant-judge]");
      cj.hidden = outcome() !== "cant_judge";
      if (!cj.hidden) cj.querySelector("input").focus();
      render();
    }
    if (t.name?.startsWith("flags_")) {
      const details = t.closest("details");
      const n = details.querySelectorAll("input:checked").length;
      details.querySelector("[data-flag-count]").textContent = n ? `(${n})` : "";
    }
  });

  // Click/tap: a chip in the pool goes to the bottom of the ranking; a ranked chip is selected.
  let suppressClick = false;
  root.addEventListener("click", (event) => {
    const c = event.target.closest(".chip, [data-rank-label]");
    if (!c || suppressClick) return;
    const p = Number(c.dataset.pos);
    if (tierOf(p) < 0) act("place", p);
    else { selected = selected === p ? null : p; render(); }
  });

  root.onKey = (event) => {
    const t = event.target;
    const digit = /^Digit([1-9])$/.exec(event.code);
    if (digit && t.type === "radio" && t.name.startsWith("rating_")) {
      rate(t.name.slice(7), digit[1]);
      return true;
    }
    if (digit && event.shiftKey) {
      if (selected === null) { root.querySelector("[data-error]").textContent = "Select a response first: type its number."; return true; }
      rate(selected, digit[1]);
      return true;
    }
    if ((t.type === "radio" || t.type === "checkbox") && ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", " "].includes(event.key)) return false;
    const key = event.key;
    if (/^[1-9]$/.test(key) && Number(key) <= k) { act("place", Number(key)); return true; }
    const map = { ArrowUp: "up", k: "up", ArrowDown: "down", j: "down", "=": "tie", t: "tie", u: "untie", x: "unrank", Backspace: "unrank", Delete: "unrank" };
    if (map[key]) { act(map[key]); return true; }
    if (key === "n") { setOutcome("none_acceptable"); return true; }
    if (key === "c") { setOutcome("cant_judge"); return true; }
    if (key === "r" && selected !== null) {
      const radios = root.querySelectorAll(`input[name="rating_${selected}"]`);
      (Array.from(radios).find((r) => r.checked) || radios[0])?.focus();
      return true;
    }
    if (key === "f" && selected !== null) {
      const details = card(selected).querySelector("details");
      details.open = true;
      details.querySelector("input")?.focus();
      return true;
    }
    if (key === "Escape") {
      const details = t.closest?.("details");
      if (details) { details.open = false; details.querySelector("summary").focus(); return true; }
      selected = null;
      render();
      return true;
    }
    return false;
  };

  // --- drag and drop with pointer events ---------------------------------------------------
  let drag = null;
  function dropTarget(x, y) {
    const el = document.elementFromPoint(x, y)?.closest("[data-gap], [data-tier], [data-pool]");
    return el && root.contains(el) ? el : null;
  }
  function mark(el) {
    root.querySelectorAll(".drop-over").forEach((e) => e.classList.remove("drop-over"));
    el?.classList.add("drop-over");
  }
  function drop(p, el) {
    if ("pool" in el.dataset) return actions.unrank(p);
    if ("tier" in el.dataset) {
      const target = tiers[Number(el.dataset.tier)];
      if (!target.includes(p)) { remove(p); target.push(p); }
    } else {
      const anchor = tiers[Number(el.dataset.gap)];
      if (anchor && anchor.length === 1 && anchor[0] === p) return;
      remove(p);
      const at = anchor ? tiers.indexOf(anchor) : tiers.length;
      tiers.splice(at < 0 ? tiers.length : at, 0, [p]);
    }
    selected = p;
  }
  // Document listeners live only while a pointer is down, so that swapped-out tasks leave none behind.
  function onMove(event) {
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (!drag.moving && Math.hypot(dx, dy) < 5) return;
    drag.moving = true;
    drag.chip.classList.add("dragging");
    root.classList.add("is-dragging");
    drag.chip.style.transform = `translate(${dx}px, ${dy}px)`; // CSSOM, allowed by the CSP
    mark(dropTarget(event.clientX, event.clientY));
  }
  function onUp(event) {
    document.removeEventListener("pointermove", onMove);
    document.removeEventListener("pointerup", onUp);
    document.removeEventListener("pointercancel", onUp);
    const { p, moving } = drag;
    drag = null;
    root.classList.remove("is-dragging");
    mark(null);
    if (!moving) return;
    const el = event.type === "pointerup" ? dropTarget(event.clientX, event.clientY) : null;
    if (el) drop(p, el);
    render();
    suppressClick = true;
    setTimeout(() => { suppressClick = false; }, 0);
  }
  root.addEventListener("pointerdown", (event) => {
    const c = event.target.closest(".chip");
    if (!c || event.button !== 0 || drag) return;
    drag = { p: Number(c.dataset.pos), chip: c, x: event.clientX, y: event.clientY, moving: false };
    document.addEventListener("pointermove", onMove);
    document.addEventListener("pointerup", onUp);
    document.addEventListener("pointercancel", onUp);
  });

  root.validate = () => {
    if (outcome() === "cant_judge" && !root.querySelector("input[name=cant_judge_reason]").value.trim())
      return "Say why you can't judge this task.";
    if (outcome() !== "ranked") return "";
    const left = positions.filter((p) => tierOf(p) < 0);
    if (left.length) return `Rank every response before submitting (not ranked yet: ${left.join(", ")}).`;
    return "";
  };
  root.beforeSubmit = () => { field.value = JSON.stringify(outcome() === "ranked" ? tiers : []); };
  root.restore = () => {
    let saved = [];
    try { saved = JSON.parse(field.value || "[]"); } catch { saved = []; }
    const seen = new Set();
    tiers = (Array.isArray(saved) ? saved : [])
      .map((t) => (Array.isArray(t) ? t : []).map(Number).filter((p) => positions.includes(p) && !seen.has(p) && seen.add(p)))
      .filter((t) => t.length);
    root.querySelector("[data-cant-judge]").hidden = outcome() !== "cant_judge";
    render();
  };
  render();
}
