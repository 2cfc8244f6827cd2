// A choice that changes what the page shows submits its form at once (no extra "Show" click).
//
//   <form method="get"><select name="project" data-autosubmit>…</select></form>
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field?.form) field.form.requestSubmit();
});
