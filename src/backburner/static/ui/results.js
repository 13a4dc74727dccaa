// A job's output, partial results and input, shown by what they are: a chapter-like text
// (title, mood, content), images, audio and video players, else formatted JSON. Built with
// `h()` only: nothing a job holds is ever parsed as HTML.

import {h} from "./dom.js";

const EXTENSIONS = {
  image: /\.(png|jpe?g|webp|gif|avif)$/i,
  audio: /\.(mp3|wav|ogg|oga|m4a|aac|flac)$/i,
  video: /\.(mp4|webm|mov|m4v)$/i,
};
const TEXT_KEYS = ["content", "text", "body", "story", "summary"];

/** `{kind: "image"|"audio"|"video", src}` when `value` is a media URL or `{url|data, content_type}`. */
export function mediaOf(value, resolve = (url) => url) {
  if (typeof value === "string") {
    const data = /^data:(image|audio|video)\/[\w.+-]+[;,]/i.exec(value);
    if (data) return {kind: data[1].toLowerCase(), src: value};
    if (!/^(https?:\/\/|\/)/i.test(value)) return null; // only web and same-origin URLs
    const path = value.split(/[?#]/)[0];
    const kind = Object.keys(EXTENSIONS).find((name) => EXTENSIONS[name].test(path));
    return kind ? {kind, src: resolve(value)} : null;
  }
  const type = /^(image|audio|video)\//i.exec(value?.content_type ?? "");
  if (!type) return null;
  // `url`, or the one `…_url` beside the content type (a scene's `video_url`)
  const url = value.url ?? Object.entries(value).find(([key, one]) => key.endsWith("_url") && typeof one === "string")?.[1];
  if (typeof url === "string" && /^(https?:\/\/|\/)/i.test(url)) {
    return {kind: type[1].toLowerCase(), src: resolve(url)};
  }
  if (typeof value.data === "string") return {kind: type[1].toLowerCase(), src: `data:${value.content_type};base64,${value.data}`};
  return null;
}

function mediaElement({kind, src}, label) {
  if (kind === "image") return h("img", {src, alt: label ?? "", loading: "lazy"});
  return h(kind, {src, controls: true, preload: "metadata", "aria-label": label ?? kind});
}

const isScalar = (value) => value === null || ["string", "number", "boolean"].includes(typeof value);
const keyLabel = (key) => String(key).replace(/[_-]+/g, " ");

function prose(text) {
  const paragraphs = String(text).split(/\n\s*\n|\n/).map((line) => line.trim()).filter(Boolean);
  return h("div", {class: "prose"}, paragraphs.map((line) => h("p", {}, line)));
}

function json(value) {
  return h("pre", {}, JSON.stringify(value, null, 2));
}

// A chapter-like output: a title, a mood, a body of text; anything else after it.
function textResult(output, textKey, resolve) {
  const {title, mood, [textKey]: body, ...rest} = output;
  return [
    typeof title === "string" ? h("h4", {}, title) : null,
    typeof mood === "string" ? h("span", {class: "mood"}, mood) : null,
    prose(body),
    Object.keys(rest).length ? fields(rest, resolve) : null,
  ];
}

// An object of media and short values: the media shown (lists of them too, such as a video's
// scenes), the rest as a list; else JSON.
function fields(object, resolve) {
  const media = [], rows = [];
  for (const [key, value] of Object.entries(object)) {
    const label = keyLabel(key);
    const found = mediaOf(value, resolve);
    if (found) media.push(figure(found, label));
    else if (isScalar(value)) rows.push(h("dt", {}, label), h("dd", {}, String(value)));
    else if (Array.isArray(value) && value.some((item) => mediaOf(item, resolve))) {
      media.push(value.map((item, i) => listed(item, `${label} ${i + 1}`, resolve)));
    } else if (Array.isArray(value) && value.every(isScalar)) {
      rows.push(h("dt", {}, label), h("dd", {}, value.length ? value.join(", ") : "none"));
    } else return json(object);
  }
  return [media, rows.length ? h("dl", {}, rows) : null];
}

function figure(found, caption) {
  return h("figure", {}, mediaElement(found, caption), h("figcaption", {}, caption));
}

// One item of a list of media: the medium with its own words as the caption (a scene's beat),
// or, for an item without one (a scene that failed), what it says instead.
function listed(item, fallback, resolve) {
  const words = item && typeof item === "object"
    ? Object.entries(item).find(([key, value]) => typeof value === "string" && !["url", "data", "content_type", "error", "status"].includes(key) && !key.endsWith("_url") && !key.endsWith("_id"))
    : null;
  const caption = words ? `${fallback}: ${clip(words[1], 80)}` : fallback;
  const found = mediaOf(item, resolve);
  if (found) return figure(found, caption);
  const why = typeof item?.error === "string" ? ` — ${clip(item.error, 120)}` : "";
  return h("figure", {class: "missing"}, h("figcaption", {}, `${caption}${why}`));
}

/** The finished job's output, rendered by type; `resolve` turns an API path into a URL. */
export function renderOutput(output, resolve) {
  const media = mediaOf(output, resolve);
  let body;
  if (output === null || output === undefined) body = h("p", {}, "Done.");
  else if (media) body = mediaElement(media, "result");
  else if (typeof output === "string") body = prose(output);
  else if (Array.isArray(output)) body = output.every((item) => mediaOf(item, resolve))
    ? output.map((item) => mediaElement(mediaOf(item, resolve), "result"))
    : json(output);
  else if (typeof output === "object") {
    const textKey = TEXT_KEYS.find((key) => typeof output[key] === "string");
    body = textKey ? textResult(output, textKey, resolve) : fields(output, resolve);
  } else body = h("p", {}, String(output));
  return h("div", {class: "result"}, body);
}

/** Partial results while the job runs: one line (or thumbnail) per key, in arrival order. */
export function renderPartial(partial, resolve) {
  const entries = Object.entries(partial ?? {});
  if (!entries.length) return null;
  return h("div", {class: "partial", "aria-label": "Results so far"},
    entries.map(([key, value]) => {
      const media = mediaOf(value, resolve);
      const shown = media ? mediaElement(media, keyLabel(key))
        : isScalar(value) ? h("span", {}, clip(String(value), 240))
        : h("pre", {}, clip(JSON.stringify(value), 240));
      return h("div", {class: "partial-item"}, h("b", {}, `${keyLabel(key)}:`), shown);
    }));
}

/** The start of a job's input worth showing on its card: its longest top-level text (the
 * journal entry, not a nested style option), clipped. */
export function inputExcerpt(input, length = 160) {
  const texts = [];
  const walk = (value, depth) => {
    if (typeof value === "string" && value.trim() && !mediaOf(value)) texts.push({value, depth});
    else if (value && typeof value === "object" && depth < 2) Object.values(value).forEach((item) => walk(item, depth + 1));
  };
  walk(input, 0);
  texts.sort((a, b) => a.depth - b.depth || b.value.length - a.value.length);
  return texts.length ? clip(texts[0].value.trim().replace(/\s+/g, " "), length) : null;
}

function clip(text, length) {
  return text.length > length ? `${text.slice(0, length - 1).trimEnd()}…` : text;
}
