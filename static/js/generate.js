// The studio (Generate and Compare): prompt count and growth, model search, prompt history,
// image drop zones, and announcements of results arriving in place. Every page works without it.
(() => {
  const PROMPT_CARRY = "artio:prompt";

  // --- Character count; past the limit a plain refusal and a disabled button (never a cut) ----
  function count(field) {
    const out = document.querySelector(`[data-count-for="${field.id}"]`);
    if (!out) return;
    const max = Number(out.dataset.max);
    const length = field.value.length;
    out.textContent = `${length.toLocaleString("en")} / ${max.toLocaleString("en")} characters`;
    out.classList.toggle("is-over", length > max);
    const over = document.querySelector(`[data-over-for="${field.id}"]`);
    if (over) {
      const excess = length - max;
      over.hidden = excess <= 0;
      over.textContent = excess > 0
        ? `Too long: ${length.toLocaleString("en")} characters, the limit is ${max.toLocaleString("en")}. ` +
          `Remove ${excess.toLocaleString("en")} to generate; nothing has been cut.`
        : "";
    }
    field.setAttribute("aria-invalid", length > max ? "true" : "false");
    blockSubmit(field.form);
  }

  function blockSubmit(form) {
    if (!form) return;
    const over = [...form.querySelectorAll("[data-count-for]")].some((out) => out.classList.contains("is-over"));
    form.querySelectorAll(".gen-submit__button").forEach((button) => {
      if (over) {
        button.disabled = true;
        button.dataset.overLimit = "true";
      } else if (button.dataset.overLimit) {
        delete button.dataset.overLimit;
        button.disabled = false;
      }
    });
  }

  // --- The prompt grows with its text (set through the CSSOM, which the CSP allows) -----------
  function grow(field) {
    field.style.height = "auto";
    field.style.height = `${field.scrollHeight + 2}px`;
  }

  document.addEventListener("input", (event) => {
    const field = event.target;
    if (!field.matches || !field.matches("input, textarea")) return;
    count(field);
    if (field.matches("[data-autogrow]")) grow(field);
    if (field.matches("[data-picker-search]")) pickerFilter(field);
  });

  // --- Model picker: typing filters the cards ------------------------------------------------
  function pickerFilter(input) {
    const picker = input.closest(".picker");
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    picker.querySelectorAll("[data-picker-item]").forEach((item) => {
      const hit = words.every((word) => item.dataset.search.includes(word));
      item.hidden = !hit;
      if (hit) shown += 1;
    });
    picker.querySelectorAll("[data-picker-group]").forEach((group) => {
      group.hidden = !group.querySelector("[data-picker-item]:not([hidden])");
    });
    picker.querySelector("[data-picker-count]").textContent =
      words.length ? `${shown} model${shown === 1 ? "" : "s"} match` : `${shown} models`;
    picker.querySelector("[data-picker-none]").hidden = shown > 0;
  }

  document.addEventListener("keydown", (event) => {
    const input = event.target;
    if (!input.matches || !input.matches("[data-picker-search]")) return;
    if (event.key === "Enter") {
      // Enter picks the first match instead of submitting the form (and spending credits).
      event.preventDefault();
      const first = input.closest(".picker").querySelector("[data-picker-item]:not([hidden]) a");
      if (first) first.click();
    } else if (event.key === "Escape") {
      input.closest("details").open = false;
      input.closest("details").querySelector("summary").focus();
    }
  });

  document.addEventListener(
    "change",
    (event) => {
      // Searching models is not a change of options: no new quote.
      if (event.target.matches && event.target.matches("[data-picker-search]")) event.stopPropagation();
    },
    true,
  );

  document.addEventListener("toggle", (event) => {
    if (event.target.matches && event.target.matches(".picker") && event.target.open) {
      event.target.querySelector("[data-picker-search]").focus();
    }
  }, true);

  // --- Switching model keeps the prompt (carried in this tab's session storage) ---------------
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("[data-carry-prompt]");
    const prompt = document.getElementById("id_prompt");
    if (link && prompt && prompt.value) sessionStorage.setItem(PROMPT_CARRY, prompt.value);
  });

  // --- Prompt history: a click puts the prompt back in the box ------------------------------
  document.addEventListener("click", (event) => {
    const item = event.target.closest && event.target.closest("[data-prompt-fill]");
    const prompt = document.getElementById("id_prompt");
    if (!item || !prompt) return;
    event.preventDefault();
    prompt.value = item.dataset.promptFill;
    prompt.dispatchEvent(new Event("input", { bubbles: true }));
    item.closest("details").open = false;
    prompt.focus();
  });

  // --- Compare: at most N models ---------------------------------------------------------------
  function compareLimit(fieldset) {
    const max = Number(fieldset.dataset.compareMax);
    const boxes = [...fieldset.querySelectorAll("input[type=checkbox]")];
    const full = boxes.filter((box) => box.checked).length >= max;
    boxes.forEach((box) => {
      if (box.closest(".is-locked")) return;
      box.disabled = full && !box.checked;
    });
  }
  document.addEventListener("change", (event) => {
    const fieldset = event.target.closest && event.target.closest("[data-compare-max]");
    if (fieldset) compareLimit(fieldset);
  });

  // --- Image inputs: drop, paste or choose; previews; files kept across a refused form ---------
  function isImage(file) {
    return /^image\/(png|jpeg|webp)$/.test(file.type);
  }

  function addFiles(zone, files) {
    const input = zone.querySelector("input[type=file]");
    const max = Number(zone.dataset.maxFiles || 1);
    const kept = zone.querySelectorAll("[data-kept]").length;
    const transfer = new DataTransfer();
    const current = input.multiple ? [...input.files] : [];
    [...current, ...[...files].filter(isImage)].slice(0, Math.max(0, max - kept) || 1).forEach((f) => transfer.items.add(f));
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function previews(zone) {
    const list = zone.querySelector("[data-dropzone-previews]");
    const input = zone.querySelector("input[type=file]");
    list.querySelectorAll("[data-new]").forEach((li) => li.remove());
    [...input.files].forEach((file, index) => {
      const li = document.createElement("li");
      li.className = "dropzone__preview";
      li.dataset.new = String(index);
      const img = document.createElement("img");
      img.alt = `Chosen image: ${file.name}`;
      const reader = new FileReader();
      reader.addEventListener("load", () => (img.src = reader.result)); // a data: URL (CSP img-src)
      reader.readAsDataURL(file);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button--small button--secondary";
      remove.dataset.dropzoneRemove = "";
      remove.textContent = "Remove";
      const hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = ` ${file.name}`;
      remove.append(hidden);
      li.append(img, remove);
      list.append(li);
    });
  }

  document.addEventListener("change", (event) => {
    const zone = event.target.matches && event.target.matches("input[type=file]") && event.target.closest("[data-dropzone]");
    if (zone) previews(zone);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("[data-dropzone-remove]");
    if (!button) return;
    const zone = button.closest("[data-dropzone]");
    const li = button.closest("li");
    if (li.dataset.new !== undefined) {
      const input = zone.querySelector("input[type=file]");
      const transfer = new DataTransfer();
      [...input.files].forEach((f, i) => i !== Number(li.dataset.new) && transfer.items.add(f));
      input.files = transfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    } else {
      li.remove();
    }
    zone.querySelector("input[type=file]").focus();
  });

  ["dragenter", "dragover"].forEach((type) =>
    document.addEventListener(type, (event) => {
      const zone = event.target.closest && event.target.closest("[data-dropzone]");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("is-dragging");
    }),
  );
  document.addEventListener("dragleave", (event) => {
    const zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("is-dragging");
  });
  document.addEventListener("drop", (event) => {
    const zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("is-dragging");
    addFiles(zone, event.dataTransfer.files);
  });
  document.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData ? event.clipboardData.files : [])].filter(isImage);
    if (!files.length) return;
    const zone = (document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-dropzone]"))
      || document.querySelector("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    addFiles(zone, files);
  });

  // --- Results in place: announce them, show the newest ----------------------------------------
  function announce(text) {
    const live = document.getElementById("studio-live");
    if (!live || !text) return;
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 50);
  }

  document.addEventListener("htmx:load", (event) => {
    const el = event.target;
    if (!el.matches || el === document.body) return;
    // A form swapped back in (with its errors) counts and grows again.
    el.querySelectorAll("[data-count-for]").forEach((out) => {
      const field = document.getElementById(out.dataset.countFor);
      if (field) count(field);
    });
    el.querySelectorAll("[data-autogrow]").forEach(grow);
    const cards = el.matches(".result") ? [el] : [...el.querySelectorAll(".result.is-fresh")];
    if (!cards.length) return;
    document.querySelectorAll("[data-results-empty]").forEach((p) => p.remove());
    cards.forEach((card) => {
      // A fresh card says what started; a polled one speaks only once it has finished.
      if (card.classList.contains("is-fresh") || card.hasAttribute("data-terminal")) announce(card.dataset.announce);
    });
    if (el.matches(".result.is-fresh")) el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    // A new Generate button (new quote) must still refuse an over-long prompt.
    const form = event.target.closest && event.target.closest("form");
    if (form) blockSubmit(form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const prompt = document.getElementById("id_prompt");
    const carried = sessionStorage.getItem(PROMPT_CARRY);
    sessionStorage.removeItem(PROMPT_CARRY);
    if (prompt && carried && !prompt.value) prompt.value = carried;
    document.querySelectorAll("[data-count-for]").forEach((out) => {
      const field = document.getElementById(out.dataset.countFor);
      if (field) count(field);
    });
    document.querySelectorAll("[data-autogrow]").forEach(grow);
    document.querySelectorAll("[data-compare-max]").forEach(compareLimit);
  });
})();
