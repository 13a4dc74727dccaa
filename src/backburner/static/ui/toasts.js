// Telling the person what happened: toasts they see (a job finished, an action failed) and a
// polite live region screen readers hear. Toasts do not speak themselves, except errors
// (role=alert): everything else is said once, through `announce`.

import {h} from "./dom.js";

const SHOWN_MS = 6000;

/** Show `text` for a few seconds; `tone` "error" makes it red and read out at once. */
export function toast(text, {tone = "info"} = {}) {
  const shelf = document.getElementById("toasts");
  if (!shelf) return;
  const close = () => item.remove();
  const item = h("div", {class: `toast ${tone}`, role: tone === "error" ? "alert" : null},
    h("p", {}, text),
    h("button", {type: "button", "aria-label": "Dismiss", onclick: close}, "✕"),
  );
  shelf.append(item);
  setTimeout(close, tone === "error" ? 2 * SHOWN_MS : SHOWN_MS);
}

let pending = [];

/** Say `text` through the page's aria-live region (status changes, results). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  // Cleared first, then set a moment later (so the same text twice is still announced);
  // what arrives meanwhile is said together. A timer, not a frame: hidden tabs get no frames.
  if (!pending.length) {
    region.textContent = "";
    setTimeout(() => {
      region.textContent = pending.join(" ");
      pending = [];
    }, 50);
  }
  pending.push(text);
}
