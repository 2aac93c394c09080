// The library grid's small enhancements; every action also works as a plain form or link.
(() => {
  const menus = () => document.querySelectorAll(".lib-menu[open]");

  // One ⋯ menu open at a time; a click elsewhere or Esc closes it (focus back on its button).
  document.addEventListener("toggle", (event) => {
    const menu = event.target;
    if (!menu.matches || !menu.matches(".lib-menu") || !menu.open) return;
    menus().forEach((other) => { if (other !== menu) other.open = false; });
  }, true);
  document.addEventListener("click", (event) => {
    menus().forEach((menu) => { if (!menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    menus().forEach((menu) => {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });

  // After a delete from the grid the tile is gone: keep the keyboard user's place on "Undo".
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    if (event.target.id !== "lib-toast") return;
    const undo = event.target.querySelector("button");
    if (undo) undo.focus();
  });
})();

// The search form leaves its empty fields out of the URL, so a shared link says only what is set.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches || !form.matches(".lib-filters")) return;
  form.querySelectorAll("input, select").forEach((field) => {
    if (field.name && !field.value) field.disabled = true;
  });
});
// Coming back (bfcache) to a page whose fields were disabled for the submit: turn them back on.
window.addEventListener("pageshow", () => {
  document.querySelectorAll(".lib-filters [disabled]").forEach((field) => { field.disabled = false; });
});
