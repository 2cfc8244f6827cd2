// Ask before a form does something that cannot be undone.
//
//   <form method="post" data-confirm="Remove alice from the project?"> … </form>
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
