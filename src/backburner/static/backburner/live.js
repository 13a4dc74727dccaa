// backburner browser client: following jobs live — over Server-Sent Events, polling when it
// cannot stream (see docs/browser.md). `Backburner.watch()`, `.resume()` and `.follow()` make these.

import {BackburnerError, isRetryable} from "./errors.js";

/** The statuses a job never leaves (except by a manual retry). */
export const TERMINAL = Object.freeze(["succeeded", "failed", "canceled"]);
/** The event types the streams send; each is a named SSE event. */
export const EVENT_TYPES = Object.freeze(["status", "progress", "partial", "cancel_requested"]);

/** Whether a job has succeeded, failed or been canceled. */
export const isFinished = (job) => TERMINAL.includes(job?.status);

const MAX_BACKOFF_MS = 30000;
const MAX_PAGES = 20;

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), {once: true});
  });

// Microseconds since the epoch of an API timestamp; Date.parse alone stops at milliseconds.
function micros(iso) {
  const [, whole, fraction = "", zone] = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(iso ?? "") ?? [];
  const ms = Date.parse(`${whole}${zone ?? ""}`);
  return Number.isNaN(ms) ? 0 : ms * 1000 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

function callSafely(callback, ...args) {
  try {
    callback?.(...args);
  } catch (error) {
    (globalThis.reportError ?? console.error)(error); // a page's bug must not stop the watch
  }
}

/** The job after one event: progress, partial and cancel_requested events are deltas. */
export function applyEvent(job, {type, data, created_at: at}) {
  const next = {...job, updated_at: at ?? job.updated_at};
  if (type === "progress") Object.assign(next, {progress: data.progress ?? null, message: data.message ?? null});
  else if (type === "partial") next.partial = {...job.partial, [data.key]: data.value};
  else if (type === "cancel_requested") next.cancel_requested = true;
  return next;
}

// One job's state, fed by its events in order. A status event (or a first event) re-reads the
// job: it changes fields the event does not carry (output, error, attempt, started_at …). A
// burst of events costs one read. The others are applied as deltas, each onto a new object.
// Every change sets the job's updated_at, so events older than the job held are in it already.
class Tracker {
  constructor(client, id, job, signal, report, fail) {
    Object.assign(this, {client, id, job, signal, report, fail, queue: [], busy: false});
  }

  push(event) {
    this.queue.push(event);
    if (!this.busy) this.drain();
  }

  async drain() {
    this.busy = true;
    try {
      while (this.queue.length && !this.signal.aborted) {
        await sleep(0); // let the rest of a burst arrive
        const held = this.job && micros(this.job.updated_at);
        const batch = this.queue.splice(0).filter((event) => !held || micros(event.created_at) >= held);
        if (!batch.length) continue;
        if (!this.job || batch.some((event) => event.type === "status")) {
          this.job = await this.client.get(this.id, {signal: this.signal});
        } else {
          this.job = batch.reduce(applyEvent, this.job);
        }
        if (!this.signal.aborted) this.report(this.job);
      }
    } catch (error) {
      this.queue.length = 0;
      if (!this.signal.aborted) this.fail(error, this);
    } finally {
      this.busy = false;
    }
  }
}

// What JobWatch and ScopeWatch share: close(), the EventSource, reconnects, failure counting.
class Watch {
  constructor(client, onChange, onError) {
    Object.assign(this, {client, onChange, onError, closed: false, failures: 0, lastId: 0});
    this.abort = new AbortController();
    this.source = null;
  }

  /** Stop: no more callbacks, the connection closes, requests in flight are aborted. */
  close() {
    this.closed = true;
    this.source?.close();
    this.abort.abort();
  }

  open(path, query, onEvent, onClosed) {
    const after = this.lastId || query.after; // a reopened stream resumes where it was
    const url = this.client.url(path, {...query, access_token: this.client.token, after});
    const source = (this.source = new EventSource(url));
    // `?after=latest` streams open with "ready": the id they start after (no event to apply).
    source.addEventListener("ready", (message) => {
      if (this.closed || source !== this.source) return;
      this.failures = 0;
      this.lastId = Number(message.lastEventId) || this.lastId;
      this.onReady?.();
    });
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        if (this.closed || source !== this.source) return;
        this.failures = 0;
        this.lastId = Number(message.lastEventId) || this.lastId; // reopening resumes here
        onEvent(JSON.parse(message.data), source);
      });
    }
    source.addEventListener("error", () => {
      if (this.closed || source !== this.source) return;
      this.failures += 1;
      if (source.readyState === EventSource.CLOSED || this.failures >= this.client.maxStreamFailures) {
        source.close();
        onClosed(this.failures >= this.client.maxStreamFailures);
      } // else the browser reconnects by itself, sending Last-Event-ID
    });
  }

  failed(error) {
    if (this.closed) return;
    this.close();
    if (this.onError) callSafely(this.onError, error);
    else (globalThis.reportError ?? console.error)(error);
  }
}

/** The handle `watch()` returns: `close()`, and `done`, a promise of the finished job. */
export class JobWatch extends Watch {
  constructor(client, id, onChange, onError) {
    super(client, onChange, onError);
    this.id = id;
    this.job = null;
    this.polling = false;
    this.done = new Promise((resolve, reject) => Object.assign(this, {resolve, reject}));
    if (onError) this.done.catch(() => {}); // reported to onError: not an unhandled rejection too
    this.tracker = new Tracker(client, id, null, this.abort.signal, (job) => this.changed(job), (e) => this.lost(e));
    if (client.canStream()) this.stream();
    else this.poll();
  }

  stream() {
    const path = `/v1/jobs/${encodeURIComponent(this.id)}/events`;
    this.open(path, {}, (event, source) => {
      if (event.type === "status" && TERMINAL.includes(event.data.status)) source.close(); // the end
      this.tracker.push(event);
    }, (givenUp) => (givenUp ? this.poll() : this.check()));
  }

  // The stream was refused (or a finished job had nothing more to send): one read tells which.
  async check() {
    try {
      const job = await this.client.get(this.id, {signal: this.abort.signal});
      this.changed(job);
      if (!isFinished(job)) await sleep(1000 * this.failures, this.abort.signal);
      if (!this.closed) this.stream();
    } catch (error) {
      this.lost(error);
    }
  }

  async poll() {
    if (this.polling || this.closed) return;
    this.polling = true;
    this.source?.close();
    let delay = 1000;
    while (!this.closed) {
      try {
        const wait = this.job ? this.client.pollWait : undefined; // the first answer at once
        this.changed(await this.client.get(this.id, {wait, signal: this.abort.signal}));
        delay = 1000;
      } catch (error) {
        if (this.closed || !isRetryable(error)) return this.failed(error);
        await sleep(delay, this.abort.signal);
        delay = Math.min(2 * delay, MAX_BACKOFF_MS);
      }
    }
  }

  lost(error) {
    if (this.closed) return;
    if (isRetryable(error)) this.poll();
    else this.failed(error);
  }

  // Without onError, the error rejects `done` alone (unhandled there, the browser logs it).
  failed(error) {
    if (this.closed) return;
    this.close();
    if (this.onError) callSafely(this.onError, error);
    this.reject(error);
  }

  changed(job) {
    if (this.closed) return;
    const last = this.job;
    if (last && (micros(job.updated_at) < micros(last.updated_at) || isFinished(last))) return; // stale
    if (last && job.updated_at === last.updated_at && job.status === last.status) return; // no news
    this.job = job;
    callSafely(this.onChange, job);
    if (isFinished(job)) {
      this.close();
      this.resolve(job);
    }
  }
}

/** The handle `resume()` and `follow()` return: `close()`, `jobs` (id → latest job), `ready`
 * (the listing). `scope` null follows every scope the token may see over one connection. */
export class ScopeWatch extends Watch {
  constructor(client, scope, onChange, onError) {
    super(client, onChange, onError);
    this.scope = scope;
    this.jobs = new Map();
    this.trackers = new Map();
    this.cutoff = 0;
    this.ready = this.start();
    this.ready.catch((error) => this.failed(error)); // reported there, or to the console
  }

  async start() {
    // Streaming, the stream starts first, from "now" (`?after=latest`), and the listing is
    // read once the server has fixed that point: no change falls between the two, and the
    // owner's history is not replayed.
    const tailing = this.client.canStream() && (await this.tail());
    const {jobs, serverTime} = await this.listActive();
    if (!tailing) {
      // Without that point the stream replays the history: events from before the listing
      // are in it already, or belong to jobs that finished before the page loaded. The listing
      // happened after the newest change it shows, and after `Date` less two seconds (it is
      // truncated to the second, and uvicorn refreshes it once a second). Events carry the
      // database's clock, `Date` the API node's: the margin covers the difference, and an
      // event inside it is merely re-read.
      const newest = jobs.reduce((latest, job) => Math.max(latest, micros(job.updated_at)), 0);
      this.cutoff = Math.max(serverTime - 2e6, newest) - 1e6 * this.client.clockMargin;
    }
    for (const job of jobs) this.changed(job);
    if (!this.closed && !this.client.canStream()) this.poll(); // else the stream is running
    return jobs;
  }

  // Open the stream from "now": true once it is ready, false if it failed first (it then goes
  // on as `stream()` does, replaying from the start, or gives way to polling).
  tail() {
    return new Promise((resolve) => {
      this.onReady = () => resolve(true);
      this.stream("latest", () => resolve(false));
    }).finally(() => (this.onReady = null));
  }

  // Every active job of the scope (pages of up to 1000), and the server's clock from `Date`;
  // a null scope is left out of the query: every scope.
  async listActive() {
    const jobs = [];
    let cursor, serverTime;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = {scope: this.scope, active: true, limit: 1000, cursor};
      const {response, body} = await this.client.request("GET", "/v1/jobs", {query, signal: this.abort.signal});
      serverTime ??= 1000 * (Date.parse(response.headers.get("Date") ?? "") || Date.now());
      jobs.push(...body.jobs);
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    return {jobs, serverTime};
  }

  // The scope stream replays the scope's whole history on its first connection: events from
  // before the listing are skipped, and a job first seen later is read once, then followed.
  stream(after, onFailure) {
    this.open("/v1/events", {scope: this.scope, after}, (event) => {
      if (micros(event.created_at) < this.cutoff) return;
      let tracker = this.trackers.get(event.job_id);
      if (!tracker) {
        const report = (job) => this.changed(job);
        const lost = (error, which) => this.lost(error, which);
        tracker = new Tracker(this.client, event.job_id, this.jobs.get(event.job_id), this.abort.signal, report, lost);
        this.trackers.set(event.job_id, tracker);
      }
      tracker.push(event);
    }, async (givenUp) => {
      onFailure?.();
      if (givenUp) return this.poll();
      await sleep(1000 * this.failures, this.abort.signal);
      if (!this.closed) this.stream(); // with the current token, after the last event seen
    });
  }

  // Without a stream: list the active jobs every pollInterval, and read the final state of
  // those that left the list. A job that starts and ends between two polls is not seen.
  async poll() {
    let delay = 1000 * this.client.pollInterval;
    while (!this.closed) {
      await sleep(delay, this.abort.signal);
      try {
        const {jobs} = await this.listActive();
        for (const job of jobs) this.changed(job);
        const listed = new Set(jobs.map((job) => job.id));
        const gone = [...this.jobs.values()].filter((job) => !isFinished(job) && !listed.has(job.id));
        for (let i = 0; i < gone.length; i += 100) {
          const ids = gone.slice(i, i + 100).map((job) => job.id);
          const found = await this.client.getMany(ids, {signal: this.abort.signal});
          for (const job of found) this.changed(job);
          const seen = new Set(found.map((job) => job.id));
          for (const id of ids) if (!seen.has(id)) this.jobs.delete(id); // deleted
        }
        delay = 1000 * this.client.pollInterval;
      } catch (error) {
        if (this.closed || !isRetryable(error)) return this.failed(error);
        delay = Math.min(2 * delay, MAX_BACKOFF_MS);
      }
    }
  }

  lost(error, tracker) {
    if (error instanceof BackburnerError && error.status === 404) {
      this.trackers.delete(tracker.id); // deleted: its events are gone too
      this.jobs.delete(tracker.id);
    } else if (isRetryable(error)) {
      tracker.job = null; // events were dropped: the next one re-reads the job
    } else {
      this.failed(error);
    }
  }

  changed(job) {
    if (this.closed) return;
    const last = this.jobs.get(job.id);
    if (last && micros(job.updated_at) < micros(last.updated_at)) return; // stale
    if (last && job.updated_at === last.updated_at && job.status === last.status) return; // no news
    this.jobs.set(job.id, job);
    callSafely(this.onChange, job);
  }
}
