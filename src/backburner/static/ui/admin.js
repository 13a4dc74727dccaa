// The operator's page, /ui/admin: signed in with an admin key, it shows the queue, running
// jobs, workers and the last hour every few seconds (`GET /v1/admin/overview`), finds jobs,
// shows a job's whole event log, and retries a kind's failed jobs in bulk.

import {h} from "./dom.js";
import {askForCredential, forget, keep, storedCredential} from "./session.js";
import {chart, queueTable, runningTable, tiles, workerName, workersTable} from "./admin-views.js";
import {jobDetails, searchForm, searchPath, searchResults} from "./admin-job.js";

const PAGE = "admin";
const REFRESH_MS = 2500;
const FINISHED = ["succeeded", "failed", "canceled"];

/** A problem+json answer (RFC 9457): its status and detail. */
class Problem extends Error {
  constructor(status, body) {
    super(body?.detail ?? `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

const state = {
  credential: null,
  overview: null,
  confirming: null, // the kind whose bulk retry awaits its confirmation
  retrying: null,
  outcome: null, // the last bulk retry's result, in words
  results: null, // the last search's {jobs} or {problem}
  job: null,
  log: [],
  timer: null,
  generation: 0, // bumped at each sign-in: answers for an older session are dropped
};

async function api(path, {method = "GET", body} = {}) {
  const headers = {Authorization: `Bearer ${state.credential}`, Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

const isAuthProblem = (error) => error instanceof Problem && (error.status === 401 || error.status === 403);

/** Say `text` to screen readers (the region is polite: it waits for a pause). */
function announce(text) {
  document.getElementById("announcer").textContent = text;
}

// ── signing in ────────────────────────────────────────────────────────────
async function signIn(problem) {
  clearTimeout(state.timer);
  state.generation += 1;
  document.getElementById("signout").hidden = true;
  document.getElementById("updated").textContent = "";
  const main = document.getElementById("main");
  main.classList.remove("admin-grid");
  state.credential = problem ? null : storedCredential(PAGE);
  if (!state.credential) {
    state.credential = await askForCredential(main, {
      label: "Admin API key",
      hint: "An admin key (backburner keys create --owner ops --admin). Kept in this browser only.",
      problem,
    });
    keep(PAGE, state.credential);
  }
  Object.assign(state, {overview: null, confirming: null, retrying: null, outcome: null, results: null, job: null, log: []});
  layout(main);
  document.getElementById("signout").hidden = false;
  await refresh();
}

/** The credential was refused: forget it and ask again, saying why. */
function refused(error) {
  forget(PAGE);
  const why = error.status === 403 ? "This key is not an admin key: " : "The key was refused: ";
  signIn(`${why}${error.message}`);
}

// ── the page ──────────────────────────────────────────────────────────────
function layout(main) {
  const panel = (id, title, ...extra) =>
    h("section", {id, class: "card panel", "aria-labelledby": `${id}-title`},
      h("div", {class: "section-head"}, h("h2", {id: `${id}-title`}, title), ...extra),
      h("div", {class: "slot", id: `${id}-body`}));
  main.classList.add("admin-grid");
  main.setAttribute("aria-busy", "true");
  main.replaceChildren(
    h("section", {id: "summary", class: "span-all", "aria-label": "Summary"}, h("div", {class: "slot", id: "summary-body"})),
    panel("throughput", "Last hour"),
    panel("queue", "Queue", h("p", {id: "queue-outcome", class: "hint", role: "status"})),
    panel("running", "Running jobs"),
    panel("workers", "Workers"),
    h("section", {id: "search", class: "card panel", "aria-labelledby": "search-title"},
      h("div", {class: "section-head"}, h("h2", {id: "search-title"}, "Find a job")),
      searchForm(search), h("div", {class: "slot", id: "search-body"})),
    h("section", {id: "job", class: "card panel span-all", hidden: true, "aria-label": "Job details"},
      h("div", {class: "slot", id: "job-body"})),
  );
}

/**
 * Put `build()` in the slot `id` when `data` changed since last time; keyboard focus stays
 * on the element with the same `data-key` (a refresh must not throw a keyboard user out).
 */
function fill(id, data, build) {
  const slot = document.getElementById(id);
  if (!slot) return;
  const signature = JSON.stringify(data);
  if (slot.dataset.signature === signature) return;
  slot.dataset.signature = signature;
  const focused = slot.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  slot.replaceChildren(...[build()].flat().filter(Boolean));
  if (focused) slot.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

function render() {
  if (!document.getElementById("queue-body")) return; // signed out while a request was out
  const view = state.overview;
  if (view) {
    fill("summary-body", [view.queue, view.workers.map((w) => w.alive), view.totals], () => tiles(view));
    fill("throughput-body", view.throughput, () => chart(view.throughput, view.totals));
    fill("queue-body", [view.queue, state.confirming, state.retrying], () => queueTable(view.queue, {
      confirming: state.confirming, retrying: state.retrying,
      onAsk: askRetry, onConfirm: retryFailed, onCancel: cancelRetry,
    }));
    fill("running-body", view.running, () => runningTable(view.running, openJob));
    fill("workers-body", view.workers, () => workersTable(view.workers));
  }
  document.getElementById("queue-outcome").textContent = state.outcome ?? "";
  fill("search-body", state.results, () => searchResults(state.results, openJob));
  const panel = document.getElementById("job");
  panel.hidden = !state.job;
  fill("job-body", [state.job, state.log], () => (state.job ? jobDetails(state.job, state.log, closeJob) : null));
}

// ── refreshing ────────────────────────────────────────────────────────────
async function refresh() {
  clearTimeout(state.timer);
  const generation = state.generation;
  const updated = document.getElementById("updated");
  try {
    const overview = await api("/v1/admin/overview");
    if (generation !== state.generation) return;
    const said = changes(state.overview, overview);
    state.overview = overview;
    if (state.job && !FINISHED.includes(state.job.status)) {
      await loadJob(state.job.id).catch((error) => {
        if (isAuthProblem(error)) throw error;
        state.results = {problem: `Job ${state.job.id} could not be reloaded: ${error.message}`};
        state.job = null; // deleted meanwhile, say: stop reloading it
      });
    }
    render();
    document.getElementById("main").setAttribute("aria-busy", "false");
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    updated.classList.remove("problem");
    if (said) announce(said);
  } catch (error) {
    if (generation !== state.generation) return;
    if (isAuthProblem(error)) return refused(error);
    updated.textContent = `Could not refresh (${error.message}); trying again…`;
    updated.classList.add("problem");
  }
  state.timer = setTimeout(refresh, REFRESH_MS);
}

/** What changed that is worth saying: new failures, workers appearing or going quiet. */
function changes(before, after) {
  const failed = (view) => view.queue.filter((c) => c.status === "failed").reduce((n, c) => n + c.count, 0);
  if (!before) {
    const alive = after.workers.filter((w) => w.alive).length;
    return `Signed in. ${alive} worker${alive === 1 ? "" : "s"} alive, ${failed(after)} failed jobs.`;
  }
  const said = [];
  const more = failed(after) - failed(before);
  if (more > 0) said.push(`${more} more failed job${more === 1 ? "" : "s"}.`);
  const wasAlive = new Set(before.workers.filter((w) => w.alive).map((w) => w.id));
  for (const worker of after.workers) {
    if (worker.alive && !wasAlive.has(worker.id)) said.push(`Worker ${workerName(worker.id)} is alive.`);
    if (!worker.alive && wasAlive.has(worker.id)) {
      said.push(`Worker ${workerName(worker.id)} ${worker.stopped_at ? "stopped" : "went quiet"}.`);
    }
  }
  return said.join(" ");
}

// ── bulk retry ────────────────────────────────────────────────────────────
function askRetry(kind) {
  state.confirming = kind;
  render();
  document.querySelector(`[data-key="${CSS.escape(`confirm-${kind}`)}"]`)?.focus();
}

function cancelRetry() {
  const kind = state.confirming;
  state.confirming = null;
  render();
  document.querySelector(`[data-key="${CSS.escape(`retry-${kind}`)}"]`)?.focus();
}

async function retryFailed(kind) {
  state.confirming = null;
  state.retrying = kind;
  render();
  try {
    const report = await api("/v1/admin/retry-failed", {method: "POST", body: {kind}});
    const skipped = report.skipped.length ? `; ${report.skipped.length} left failed (${report.skipped[0].detail})` : "";
    state.outcome = `Re-queued ${report.count} failed ${kind} job${report.count === 1 ? "" : "s"}${skipped}.`;
  } catch (error) {
    if (isAuthProblem(error)) return refused(error);
    state.outcome = `Could not retry the failed ${kind} jobs: ${error.message}`;
  }
  state.retrying = null;
  announce(state.outcome);
  await refresh();
}

// ── finding and showing jobs ──────────────────────────────────────────────
async function search(query) {
  try {
    if (query.by === "id") {
      const job = await api(searchPath(query));
      state.results = {jobs: [job]};
      await openJob(job.id);
    } else {
      state.results = {jobs: (await api(searchPath(query))).jobs};
    }
  } catch (error) {
    if (isAuthProblem(error)) return refused(error);
    state.results = {problem: error.status === 404 ? `No job with id ${query.text}.` : `Search failed: ${error.message}`};
  }
  render();
  const found = state.results.jobs?.length ?? 0;
  announce(state.results.problem ?? `Found ${found} job${found === 1 ? "" : "s"}.`);
}

async function loadJob(id) {
  const [job, log] = await Promise.all([api(`/v1/jobs/${encodeURIComponent(id)}`), api(`/v1/jobs/${encodeURIComponent(id)}/log`)]);
  state.job = job;
  state.log = log.events;
}

async function openJob(id) {
  try {
    await loadJob(id);
  } catch (error) {
    if (isAuthProblem(error)) return refused(error);
    state.results = {problem: `Could not open job ${id}: ${error.message}`};
    return render();
  }
  render();
  const title = document.getElementById("job-title");
  title?.scrollIntoView({block: "nearest"});
  title?.focus();
  announce(`Job ${id}: ${state.job.status}, ${state.log.length} events.`);
}

function closeJob() {
  state.job = null;
  state.log = [];
  render();
  document.getElementById("search-text")?.focus();
}

document.getElementById("signout").addEventListener("click", () => {
  forget(PAGE);
  signIn();
});
signIn();
