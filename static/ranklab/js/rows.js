// Editable rows of a form (e.g. a project's flags): add a row, remove a row.
//
//   <table data-rows><tbody data-rows-body><tr data-row> <input name="flags_label"> …
//     <button type="button" data-remove-row>Remove</button></tr></tbody></table>
//   <button type="button" data-add-row>Add a flag</button>   ← adds a copy of the last row, emptied
//
// Without JavaScript the form still works: it always ends with empty rows to fill in.
function renumber(body) {
  body.querySelectorAll("[data-row]").forEach((row, i) => {
    row.querySelectorAll("[aria-label]").forEach((el) => {
      el.setAttribute("aria-label", el.getAttribute("aria-label").replace(/\d+/, String(i + 1)));
    });
  });
}

document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-add-row]");
  if (add) {
    const body = add.closest("form").querySelector("[data-rows-body]");
    const last = body.querySelector("[data-row]:last-child");
    const row = last.cloneNode(true);
    row.querySelectorAll("input").forEach((input) => { input.value = ""; });
    body.append(row);
    renumber(body);
    row.querySelector("input").focus();
    return;
  }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) {
    const body = remove.closest("[data-rows-body]");
    const row = remove.closest("[data-row]");
    if (body.querySelectorAll("[data-row]").length > 1) row.remove();
    else row.querySelectorAll("input").forEach((input) => { input.value = ""; });
    renumber(body);
  }
});
