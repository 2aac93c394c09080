// The full-size viewer. Markup contract (studio and library alike):
//   <div data-viewer> … <a data-viewer-item href="FULL_IMAGE_URL" data-download="DOWNLOAD_URL"
//        data-caption="PROMPT" [data-use="USE_AS_INPUT_URL"]><img …></a> … </div>
// Without JavaScript the link simply opens the image. With it, a modal <dialog>: ←/→ move,
// Esc closes, swipe left/right on touch screens; focus stays inside while it is open and goes
// back to the thumbnail that opened it.
(() => {
  let dialog = null;
  let items = [];
  let index = 0;
  let opener = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function build() {
    dialog = el("dialog", "viewer");
    dialog.setAttribute("aria-label", "Image viewer");
    const bar = el("div", "viewer__bar");
    const counter = el("p", "viewer__counter");
    counter.setAttribute("aria-live", "polite");
    const download = el("a", "button button--small viewer__download", "Download");
    // No download attribute: the server's Content-Disposition names the file (Chrome would let an
    // empty attribute win over it and save the random stored name).
    const use = el("a", "button button--small button--secondary viewer__use", "Use as input");
    const close = el("button", "button button--small button--secondary viewer__close", "✕");
    close.type = "button";
    close.setAttribute("aria-label", "Close viewer (Esc)");
    bar.append(counter, download, use, close);
    const stage = el("div", "viewer__stage");
    const prev = el("button", "viewer__nav viewer__nav--prev", "‹");
    prev.type = "button";
    prev.setAttribute("aria-label", "Previous image (←)");
    const next = el("button", "viewer__nav viewer__nav--next", "›");
    next.type = "button";
    next.setAttribute("aria-label", "Next image (→)");
    const figure = el("figure", "viewer__figure");
    const img = el("img", "viewer__image");
    const caption = el("figcaption", "viewer__caption");
    figure.append(img, caption);
    stage.append(prev, figure, next);
    dialog.append(bar, stage);
    document.body.append(dialog);

    close.addEventListener("click", () => dialog.close());
    prev.addEventListener("click", () => show(index - 1));
    next.addEventListener("click", () => show(index + 1));
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog || event.target === stage) dialog.close(); // the backdrop
    });
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") show(index - 1);
      else if (event.key === "ArrowRight") show(index + 1);
      else return;
      event.preventDefault();
    });
    dialog.addEventListener("close", () => {
      document.documentElement.classList.remove("viewer-open");
      if (opener && opener.isConnected) opener.focus();
    });
    let startX = null;
    stage.addEventListener("touchstart", (event) => (startX = event.touches[0].clientX), { passive: true });
    stage.addEventListener("touchend", (event) => {
      if (startX === null) return;
      const dx = event.changedTouches[0].clientX - startX;
      startX = null;
      if (Math.abs(dx) > 50) show(index + (dx < 0 ? 1 : -1));
    });
  }

  function show(at) {
    if (!items.length) return;
    index = (at + items.length) % items.length;
    const item = items[index];
    const img = dialog.querySelector(".viewer__image");
    const thumb = item.querySelector("img");
    img.src = item.href;
    img.alt = thumb ? thumb.alt : item.dataset.caption || "Image";
    dialog.querySelector(".viewer__caption").textContent = item.dataset.caption || "";
    dialog.querySelector(".viewer__counter").textContent =
      items.length > 1 ? `Image ${index + 1} of ${items.length}` : "";
    const download = dialog.querySelector(".viewer__download");
    download.href = item.dataset.download || item.href;
    const use = dialog.querySelector(".viewer__use");
    use.hidden = !item.dataset.use;
    if (item.dataset.use) use.href = item.dataset.use;
    const single = items.length < 2;
    dialog.querySelectorAll(".viewer__nav").forEach((button) => (button.hidden = single));
  }

  document.addEventListener("click", (event) => {
    const item = event.target.closest && event.target.closest("[data-viewer-item]");
    if (!item || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    const root = item.closest("[data-viewer]");
    if (!root) return;
    event.preventDefault();
    if (!dialog) build();
    items = [...root.querySelectorAll("[data-viewer-item]")];
    opener = item;
    show(items.indexOf(item));
    document.documentElement.classList.add("viewer-open");
    dialog.showModal(); // modal: the rest of the page is inert, Esc closes
    dialog.querySelector(".viewer__close").focus();
  });
})();
