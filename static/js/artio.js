// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("keydown", (event) => {
  // Ctrl/Cmd+Enter submits the form the focus is in (the Generate form above all).
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    const form = event.target.closest && event.target.closest("form");
    if (form) {
      event.preventDefault();
      form.requestSubmit();
    }
  }
});

document.addEventListener("click", (event) => {
  // Buttons with data-copy put their text on the clipboard ("Copy prompt").
  const button = event.target.closest("[data-copy]");
  if (!button || !navigator.clipboard) return;
  navigator.clipboard.writeText(button.dataset.copy).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = label), 1500);
  });
});
