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

// The Content-Security-Policy allows no inline handlers or style attributes, so markup asks for
// behaviour through data- attributes instead.
document.addEventListener("submit", (event) => {
  // <form data-confirm="Revoke this key?">: ask before a destructive POST.
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("focusin", (event) => {
  // <input data-select-on-focus>: a secret shown once is selected whole, ready to copy.
  if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
});

function artioApplyAspectRatios(root) {
  // <div data-aspect-ratio="16 / 9">: a placeholder shaped like the image it stands for. Set
  // through the CSSOM, which the policy allows, unlike a style="" attribute.
  root.querySelectorAll("[data-aspect-ratio]").forEach((el) => {
    el.style.aspectRatio = el.dataset.aspectRatio;
  });
}
document.addEventListener("DOMContentLoaded", () => artioApplyAspectRatios(document));
// htmx fires htmx:load on every fragment it swaps in (the generation page polls for its status).
document.addEventListener("htmx:load", (event) => artioApplyAspectRatios(event.target));

// The header balance refreshes itself on the htmx event `balance-changed` (a response that charges or
// refunds sends HX-Trigger: balance-changed) and when the tab is shown again, since a generation may
// have been refunded meanwhile. base.html listens for "artio:visible" on the body.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && document.body) {
    document.body.dispatchEvent(new CustomEvent("artio:visible"));
  }
});
