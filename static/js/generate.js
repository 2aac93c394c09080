// Live character count under text fields that have a limit ("120 / 5000").
function artioCount(field) {
  const out = document.querySelector(`[data-count-for="${field.id}"]`);
  if (!out) return;
  const max = Number(out.dataset.max);
  out.textContent = `${field.value.length} / ${max} characters`;
  out.classList.toggle("is-over", field.value.length > max);
}
document.addEventListener("input", (event) => {
  if (event.target.matches("input, textarea")) artioCount(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-count-for]").forEach((out) => {
    const field = document.getElementById(out.dataset.countFor);
    if (field) artioCount(field);
  });
});
