// The operator page's overview panels, built from `GET /v1/admin/overview`: summary tiles,
// the last hour's throughput as an inline SVG, the queue by kind (with bulk retry), the
// running jobs and the workers. Builders only: admin.js owns the state and the requests.

import {h} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

/** An SVG element (dom.js's `h` makes HTML elements, which an <svg> does not draw). */
function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) element.append(child);
  }
  return element;
}

/** "3 s", "4 min", "2 h" for a number of seconds. */
export function seconds(value) {
  const size = Math.abs(value);
  if (size < 60) return `${Math.round(size)} s`;
  if (size < 3600) return `${Math.round(size / 60)} min`;
  return `${Math.round(size / 3600)} h`;
}

/** "14:05" in the viewer's time zone. */
export function clock(iso) {
  const at = new Date(iso);
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

/** "3f2a9c1e…": enough of a UUID to tell jobs apart in a table. */
export const shortId = (id) => `${String(id).slice(0, 8)}…`;

/** "box:4242" from a worker id "box:4242:a1b2c3". */
export const workerName = (id) => (id ? String(id).split(":").slice(0, -1).join(":") || id : "—");

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(rate < 0.1 ? 1 : 0)}%`);

/** The queue pivoted to one row per kind: `{kind, queued, running, failed}`, by kind. */
export function queueRows(queue) {
  const rows = new Map();
  for (const {kind, status, count} of queue) {
    const row = rows.get(kind) ?? {kind, queued: 0, running: 0, failed: 0};
    row[status] = count;
    rows.set(kind, row);
  }
  return [...rows.values()].sort((a, b) => a.kind.localeCompare(b.kind));
}

/** The summary tiles: what is waiting, running, failed; the last hour; the workers. */
export function tiles(overview) {
  const sum = (status) => overview.queue.filter((c) => c.status === status).reduce((n, c) => n + c.count, 0);
  const alive = overview.workers.filter((w) => w.alive).length;
  const {totals} = overview;
  const tile = (label, value, tone, note) =>
    h("div", {class: `tile${tone ? ` ${tone}` : ""}`}, h("span", {class: "tile-label"}, label),
      h("strong", {class: "tile-value"}, String(value)), note ? h("span", {class: "tile-note"}, note) : null);
  return h("div", {class: "tiles"},
    tile("Queued", sum("queued")),
    tile("Running", sum("running")),
    tile("Failed", sum("failed"), sum("failed") ? "bad" : null, "waiting for you"),
    tile("Succeeded", totals.succeeded, null, "last hour"),
    tile("Failure rate", percent(totals.failure_rate), totals.failure_rate > 0.1 ? "bad" : null, "last hour"),
    tile("Workers", `${alive} / ${overview.workers.length}`, alive ? null : "warn", "alive / known"),
  );
}

/** The last hour's jobs finished per minute as stacked bars (succeeded, failed, canceled). */
export function chart(minutes, totals) {
  const width = 600;
  const height = 100;
  const peak = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed + m.canceled));
  const top = niceCeil(peak);
  const step = width / minutes.length;
  const bars = minutes.map((minute, index) => {
    let y = height;
    const segments = [["succeeded", "ok"], ["failed", "bad"], ["canceled", "idle"]].map(([key, tone]) => {
      if (!minute[key]) return null;
      const tall = (minute[key] / top) * height;
      y -= tall;
      return s("rect", {class: `seg ${tone}`, x: index * step + 0.5, y, width: step - 1, height: tall});
    });
    const text = `${clock(minute.minute)}: ${minute.succeeded} succeeded, ${minute.failed} failed, ${minute.canceled} canceled`;
    return s("g", {class: "minute"}, s("title", {}, text),
      s("rect", {class: "hit", x: index * step, y: 0, width: step, height}), segments);
  });
  const grid = [0.5, 1].map((f) => s("line", {class: "grid", x1: 0, x2: width, y1: height * (1 - f), y2: height * (1 - f)}));
  const summary = `Jobs finished per minute over the last hour: ${totals.succeeded} succeeded, ` +
    `${totals.failed} failed, ${totals.canceled} canceled; failure rate ${percent(totals.failure_rate)}.`;
  const swatch = (tone, count, label) => h("span", {class: "key"}, h("span", {class: `swatch ${tone}`}), `${count} ${label}`);
  return h("figure", {class: "chart"},
    h("div", {class: "chart-plot"},
      h("span", {class: "chart-max", "aria-hidden": "true"}, `${top}/min`),
      s("svg", {viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": summary},
        s("title", {}, summary), grid, bars, s("line", {class: "axis", x1: 0, x2: width, y1: height, y2: height}))),
    h("div", {class: "chart-axis", "aria-hidden": "true"},
      h("span", {}, clock(minutes[0].minute)), h("span", {}, "30 min ago"), h("span", {}, "now")),
    h("figcaption", {class: "legend"},
      swatch("ok", totals.succeeded, "succeeded"), swatch("bad", totals.failed, "failed"),
      swatch("idle", totals.canceled, "canceled"),
      h("span", {class: "key rate"}, `failure rate ${percent(totals.failure_rate)}`)));
}

/** 1, 2, 5, 10, 20, 50 …: the smallest at or above `value`, so the scale reads easily. */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((f) => f * power).find((n) => n >= value);
}

const table = (label, head, rows, empty, name = "") =>
  rows.length
    ? h("div", {class: "table-wrap"},
        h("table", {class: `grid-table ${name}`.trim()}, h("caption", {class: "visually-hidden"}, label),
          h("thead", {}, h("tr", {}, head.map(([text, cls]) => h("th", {scope: "col", class: cls}, text)))),
          h("tbody", {}, rows)))
    : h("p", {class: "empty"}, empty);

/**
 * The queue by kind, with a "Retry failed" button per kind that has failed jobs; pressing it
 * asks first (`confirming` is that kind), `retrying` is the kind whose retry is under way.
 */
export function queueTable(queue, {confirming, retrying, onAsk, onConfirm, onCancel}) {
  const rows = queueRows(queue).map((row) => {
    const noun = `${row.failed} failed ${row.kind} job${row.failed === 1 ? "" : "s"}`;
    let action = null;
    if (retrying === row.kind) {
      action = h("button", {type: "button", disabled: true}, "Retrying…");
    } else if (confirming === row.kind) {
      action = h("span", {class: "confirm-step"},
        h("span", {class: "confirm-text"}, `Retry ${noun}?`),
        h("button", {type: "button", class: "danger confirm", "data-key": `confirm-${row.kind}`,
          onclick: () => onConfirm(row.kind)}, "Yes, retry"),
        h("button", {type: "button", class: "quiet", "data-key": `cancel-${row.kind}`, onclick: onCancel}, "Cancel"));
    } else if (row.failed) {
      action = h("button", {type: "button", class: "danger", "data-key": `retry-${row.kind}`,
        "aria-label": `Retry ${noun}`, onclick: () => onAsk(row.kind)}, "Retry failed");
    }
    return h("tr", {dataset: {kind: row.kind}},
      h("th", {scope: "row"}, row.kind),
      h("td", {class: "num"}, String(row.queued)),
      h("td", {class: "num"}, String(row.running)),
      h("td", {class: `num${row.failed ? " bad" : ""}`}, String(row.failed)),
      h("td", {class: "action"}, action));
  });
  return table("Queued, running and failed jobs by kind",
    [["Kind"], ["Queued", "num"], ["Running", "num"], ["Failed", "num"], ["", "action"]],
    rows, "Nothing queued, running or failed.", "queue-table");
}

/** A button opening a job's details (`data-key` keeps keyboard focus across refreshes). */
export function jobButton(id, onOpen, where) {
  return h("button", {type: "button", class: "link mono", title: id, "aria-label": `Job ${id}`,
    "data-key": `${where}-${id}`, onclick: () => onOpen(id)}, shortId(id));
}

/** Running jobs: the lease ending soonest first, with the worker and the time left. */
export function runningTable(running, onOpen) {
  const rows = running.map((job) => {
    const left = job.lease_left_s;
    const lease = left === null ? "—" : left >= 0 ? `${seconds(left)} left` : `overdue ${seconds(left)}`;
    const progress = job.progress === null ? "" : `${Math.round(job.progress * 100)}% `;
    return h("tr", {},
      h("td", {}, jobButton(job.id, onOpen, "running")),
      h("td", {}, job.kind),
      h("td", {class: "opt"}, job.owner),
      h("td", {class: "opt mono", title: job.worker_id ?? ""}, workerName(job.worker_id)),
      h("td", {class: "wrap"}, `${progress}${job.message ?? ""}` || "—"),
      h("td", {class: `num${left !== null && left < 0 ? " bad" : ""}`}, lease));
  });
  return table("Running jobs", [["Job"], ["Kind"], ["Owner", "opt"], ["Worker", "opt"], ["Progress"], ["Lease", "num"]],
    rows, "No job is running.");
}

/** Workers, the most recently heard of first, each marked live, stale or stopped. */
export function workersTable(workers) {
  const rows = workers.map((worker) => {
    const state = worker.alive ? "live" : worker.stopped_at ? "stopped" : "stale";
    return h("tr", {dataset: {state}},
      h("td", {}, h("span", {class: `marker ${state}`}, state)),
      h("td", {class: "mono", title: worker.id}, workerName(worker.id)),
      h("td", {class: "opt wrap"}, worker.kinds.join(", ")),
      h("td", {class: "num"}, `${worker.running} / ${worker.concurrency}`),
      h("td", {class: "num"}, `${seconds(worker.silent_s)} ago`));
  });
  return table("Workers", [["State"], ["Worker"], ["Kinds", "opt"], ["Jobs", "num"], ["Heartbeat", "num"]],
    rows, "No worker has registered yet: start one with `backburner worker APP`.");
}
