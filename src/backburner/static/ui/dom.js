// The dashboard's one DOM helper: build elements without innerHTML (job data is never parsed
// as HTML, so a job's input or output cannot inject markup).

/**
 * An element: `h("button", {class: "primary", onclick: retry}, "Retry")`.
 * Attributes starting with "on" become listeners; `null`, `undefined` and `false` are left
 * out; children may be strings, nodes, arrays of them, or null.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** "just now", or "3 s", "4 min", "2 h", "5 d" ago/ahead, from an API timestamp. */
export function relativeTime(iso, now = Date.now()) {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  const size = Math.abs(seconds);
  if (size < 5) return "just now"; // clocks a second apart must not say "in 1 s"
  const [amount, unit] =
    size < 60 ? [size, "s"] : size < 3600 ? [size / 60, "min"] : size < 86400 ? [size / 3600, "h"] : [size / 86400, "d"];
  const text = `${Math.round(amount)} ${unit}`;
  return seconds >= 0 ? `${text} ago` : `in ${text}`;
}
