// The operator page's job finder and job details: search by id, owner or dedupe key, then a
// job's fields, input, output and whole event log (`GET /v1/jobs/{id}/log`). Builders only.

import {h, relativeTime} from "./dom.js";
import {jobButton} from "./admin-views.js";

const SEARCHES = [
  ["id", "Job id"],
  ["owner", "Owner"],
  ["dedupe_key", "Dedupe key"],
];

/** The search form; `onSearch({by, text})` runs on submit (Enter or the button). */
export function searchForm(onSearch) {
  const by = h("select", {id: "search-by", name: "by"},
    SEARCHES.map(([value, label]) => h("option", {value}, label)));
  const text = h("input", {id: "search-text", name: "text", type: "search", required: true,
    autocomplete: "off", spellcheck: "false", placeholder: "3f2a9c1e-…, alice, portrait:42"});
  return h("form", {class: "search", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (value) onSearch({by: by.value, text: value});
  }},
    h("div", {class: "field"}, h("label", {for: "search-by"}, "Search by"), by),
    h("div", {class: "field grow"}, h("label", {for: "search-text"}, "Value"), text),
    h("button", {type: "submit", class: "primary"}, "Search"));
}

/** The request a search makes: one job by id, or a page of jobs by owner or dedupe key. */
export function searchPath({by, text}) {
  if (by === "id") return `/v1/jobs/${encodeURIComponent(text)}`;
  return `/v1/jobs?${new URLSearchParams({[by]: text, limit: "20"})}`;
}

/** What a search found: a table of jobs, or why there is none. */
export function searchResults(results, onOpen) {
  if (!results) return null;
  if (results.problem) return h("p", {class: "empty"}, results.problem);
  if (!results.jobs.length) return h("p", {class: "empty"}, "No job matches.");
  return h("div", {class: "table-wrap"},
    h("table", {class: "grid-table"}, h("caption", {class: "visually-hidden"}, "Jobs found"),
      h("thead", {}, h("tr", {}, ["Job", "Kind", "Owner", "Status", "Created"].map((t, i) =>
        h("th", {scope: "col", class: i === 2 || i === 4 ? "opt" : null}, t)))),
      h("tbody", {}, results.jobs.map((job) => h("tr", {},
        h("td", {}, jobButton(job.id, onOpen, "found")),
        h("td", {}, job.kind),
        h("td", {class: "opt"}, job.owner),
        h("td", {}, h("span", {class: `status ${job.status}`}, job.status)),
        h("td", {class: "opt"}, relativeTime(job.created_at)))))));
}

/** "14:05:09.123" in the viewer's time zone. */
function stamp(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, "0")}`;
}

/** An event in a few words: "queued → running", "50% Writing…", "partial scene-3". */
function eventSummary(event) {
  const data = event.data ?? {};
  if (event.type === "status") {
    const error = data.error ? ` — ${data.error.type}: ${data.error.message}` : "";
    const reason = data.reason ? ` (${data.reason})` : "";
    return `${data.from ? `${data.from} → ` : ""}${data.status}${reason}${error}`;
  }
  if (event.type === "progress") {
    const part = data.progress === null || data.progress === undefined ? "" : `${Math.round(data.progress * 100)}% `;
    return `${part}${data.message ?? ""}`.trim() || "progress";
  }
  if (event.type === "partial") return `partial ${data.key ?? ""}`.trim();
  return JSON.stringify(data);
}

const json = (value) => h("pre", {class: "json"}, JSON.stringify(value, null, 2));

/** A job's details and its event log; `onClose` hides them. */
export function jobDetails(job, events, onClose) {
  const pair = (label, value, title) => h("div", {}, h("dt", {}, label), h("dd", {title}, value));
  const when = (label, iso) => pair(label, iso ? `${stamp(iso)} (${relativeTime(iso)})` : "—", iso);
  const field = (label, value) => pair(label, value === null || value === undefined || value === "" ? "—" : String(value));
  return h("article", {class: "job-detail", "aria-labelledby": "job-title"},
    h("div", {class: "section-head"},
      h("h2", {id: "job-title", tabindex: "-1"}, "Job ", h("span", {class: "mono"}, job.id)),
      h("button", {type: "button", class: "quiet", "data-key": "close-job", onclick: onClose}, "Close")),
    h("p", {}, h("span", {class: `status ${job.status}`}, job.status),
      job.slow && !["succeeded", "failed", "canceled"].includes(job.status) ? h("span", {class: "status slow"}, "slow") : null,
      job.error ? h("span", {class: "error-line"}, ` ${job.error.type}: ${job.error.message}`) : null),
    h("dl", {class: "facts"},
      field("Kind", job.kind), field("Owner", job.owner), field("Scope", job.scope),
      field("Attempt", `${job.attempt} of ${job.max_attempts ?? "?"}`), field("Dedupe key", job.dedupe_key),
      field("Priority", job.priority), field("Cost", job.cost),
      field("Progress", job.progress === null ? null : `${Math.round(job.progress * 100)}% ${job.message ?? ""}`),
      when("Created", job.created_at), when("Started", job.started_at), when("Finished", job.finished_at)),
    h("details", {}, h("summary", {}, "Input"), json(job.input)),
    job.output !== null && job.output !== undefined ? h("details", {}, h("summary", {}, "Output"), json(job.output)) : null,
    Object.keys(job.partial ?? {}).length ? h("details", {}, h("summary", {}, "Partial results"), json(job.partial)) : null,
    h("h3", {class: "log-title"}, `Event log (${events.length})`),
    h("div", {class: "table-wrap"},
      h("table", {class: "grid-table log"}, h("caption", {class: "visually-hidden"}, "Event log"),
        h("thead", {}, h("tr", {}, h("th", {scope: "col", class: "num"}, "#"), h("th", {scope: "col"}, "Time"),
          h("th", {scope: "col"}, "Type"), h("th", {scope: "col"}, "What"))),
        h("tbody", {}, events.map((event) => h("tr", {dataset: {type: event.type}},
          h("td", {class: "num"}, String(event.seq)),
          h("td", {class: "mono"}, stamp(event.created_at)),
          h("td", {}, event.type),
          h("td", {class: "wrap"}, eventSummary(event))))))));
}
