// What the server said, as a sentence a labeler can act on (never raw JSON).
//
//   apiErrorText({"conversation": {"1": {"content": ["This field may not be blank."]}}})
//     → "Turn 2: this field may not be blank."
//   apiErrorText({"detail": "This assignment is submitted."}) → "This assignment is submitted."
const FIELD_NAMES = { conversation: "", content: "", role: "role", text: "answer", tiers: "ranking",
                      non_field_errors: "", detail: "" };

function lowerFirst(text) {
  return text && /^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text;
}

function walk(value, path, out, parent) {
  if (typeof value === "string") {
    const where = path.filter(Boolean).join(", ");
    out.push(where ? `${where[0].toUpperCase()}${where.slice(1)}: ${lowerFirst(value)}` : value);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v) => walk(v, path, out, parent));
    return;
  }
  if (value && typeof value === "object") {
    for (const [key, v] of Object.entries(value)) {
      let label;
      if (/^\d+$/.test(key)) label = parent === "conversation" ? `turn ${Number(key) + 1}` : `item ${Number(key) + 1}`;
      else label = key in FIELD_NAMES ? FIELD_NAMES[key] : key.replaceAll("_", " ");
      walk(v, [...path, label], out, key);
    }
  }
}

export function apiErrorText(body, status) {
  const out = [];
  walk(body, [], out, "");
  const text = out.map((s) => (/[.!?]$/.test(s) ? s : `${s}.`)).join(" ");
  return text || `The server refused this (${status || "error"}); try again or reload the page.`;
}
