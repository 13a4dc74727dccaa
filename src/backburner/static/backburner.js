// backburner browser client: a dependency-free ES module, served at /static/backburner.js.
// Docs: docs/browser.md.
//
//   import {Backburner} from "/static/backburner.js";
//   const bb = new Backburner({token});            // a browser token minted by your server
//   const job = await bb.submit("chapter", {journal_entry: text});
//   bb.watch(job.id, (job) => render(job));        // SSE, polling when it cannot stream
//   bb.resume("novel:42", (job) => render(job));   // on page load: the scope's running jobs
//   bb.follow((job) => render(job));               // or all of the owner's jobs, any scope

import {BackburnerError} from "./backburner/errors.js";
import {JobWatch, ScopeWatch} from "./backburner/live.js";

export * from "./backburner/errors.js";
export * from "./backburner/live.js";

/** A client for the backburner HTTP API, acting as the owner of its token. */
export class Backburner {
  /**
   * @param {object} options
   * @param {string} [options.baseUrl] where the API is ("" = this origin; e.g. "/bb" behind a proxy)
   * @param {string} [options.token] a browser token (bbt_…) or, for trusted pages, an API key
   * @param {boolean} [options.sse] false: never use EventSource, always poll
   * @param {number} [options.pollWait] seconds a long-poll of one job is held (1–60)
   * @param {number} [options.pollInterval] seconds between polls of a scope
   * @param {number} [options.maxStreamFailures] failed connections in a row before polling
   * @param {number} [options.clockMargin] seconds the API's and the database's clocks may differ
   */
  constructor({baseUrl = "", token = null, sse = true, pollWait = 2, pollInterval = 2, maxStreamFailures = 3,
    clockMargin = 5} = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    /** May be replaced (a fresh token); later requests and reconnects use the new one. */
    this.token = token;
    pollWait = Math.min(60, Math.max(1, Math.round(pollWait))); // the API takes 1–60 whole seconds
    Object.assign(this, {sse, pollWait, pollInterval, maxStreamFailures, clockMargin});
  }

  /** Submit a job: resolves to it at once (queued), or finished if it ends within `wait` s. */
  async submit(kind, input, {scope, dedupeKey, priority, reuse, wait, idempotencyKey, signal} = {}) {
    const body = {kind, input, scope, dedupe_key: dedupeKey, priority, reuse};
    const headers = {};
    if (wait) headers.Prefer = `wait=${wait}`;
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    return (await this.request("POST", "/v1/jobs", {body, headers, signal})).body;
  }

  /** One job; with `wait`, held up to that many seconds until its status changes. */
  async get(id, {wait, signal} = {}) {
    return (await this.request("GET", `/v1/jobs/${encodeURIComponent(id)}`, {query: {wait}, signal})).body;
  }

  /** A page of jobs, newest first: {jobs, next_cursor}; `status` may be a list. */
  async list({scope, status, kind, dedupeKey, active, owner, cursor, limit, signal} = {}) {
    const query = {scope, status, kind, dedupe_key: dedupeKey, active, owner, cursor, limit};
    return (await this.request("GET", "/v1/jobs", {query, signal})).body;
  }

  /** Up to 100 jobs in one request; unknown ids are left out. */
  async getMany(ids, {signal} = {}) {
    return (await this.request("POST", "/v1/jobs/batch", {body: {ids}, signal})).body.jobs;
  }

  /** Cancel a job (a running one is stopped by its worker). */
  async cancel(id, {signal} = {}) {
    return (await this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/cancel`, {signal})).body;
  }

  /** Run a failed or canceled job again: the same id, its saved input. */
  async retry(id, {signal} = {}) {
    return (await this.request("POST", `/v1/jobs/${encodeURIComponent(id)}/retry`, {signal})).body;
  }

  /** Delete a job and its events. */
  async delete(id, {signal} = {}) {
    await this.request("DELETE", `/v1/jobs/${encodeURIComponent(id)}`, {signal});
  }

  /** Every kind: [{name, input_schema, …}], with its JSON schemas and policy. */
  async kinds({signal} = {}) {
    return (await this.request("GET", "/v1/kinds", {signal})).body.kinds;
  }

  /** Follow one job: `onChange(job)` on every change, until it finishes. See docs/browser.md. */
  watch(jobId, onChange, {onError} = {}) {
    return new JobWatch(this, jobId, onChange, onError);
  }

  /** Follow the active jobs of a scope, and those that start later, over one connection;
   * `scope` null: of every scope (all of the owner's jobs, or a scoped token's scope). */
  resume(scope, onChange, {onError} = {}) {
    return new ScopeWatch(this, scope, onChange, onError);
  }

  /** Follow all of the owner's jobs — active now or started later — over one connection. */
  follow(onChange, {onError} = {}) {
    return this.resume(null, onChange, {onError});
  }

  /** A request to the API: {response, body}; a problem answer rejects with BackburnerError. */
  async request(method, path, {query, body, headers = {}, signal} = {}) {
    const init = {method, signal, headers: {Accept: "application/json", ...headers}};
    if (this.token) init.headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response, text;
    try {
      response = await fetch(this.url(path, query), init);
      text = await response.text();
    } catch (cause) {
      if (cause?.name === "AbortError") throw cause;
      throw new BackburnerError({title: "Network error", detail: String(cause?.message ?? cause)}, {cause});
    }
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null; // not JSON (a proxy's error page): the status says enough
    }
    if (!response.ok) {
      const problem = data && typeof data === "object" ? data : {};
      throw new BackburnerError({title: response.statusText, ...problem, status: response.status});
    }
    return {response, body: data};
  }

  /** The URL of an API path with its query; undefined and null values are left out. */
  url(path, query = {}) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) {
      for (const one of Array.isArray(value) ? value : [value]) {
        if (one !== undefined && one !== null) params.append(name, String(one));
      }
    }
    const search = params.toString();
    return `${this.baseUrl}${path}${search ? `?${search}` : ""}`;
  }

  /** EventSource cannot send headers, and `?access_token=` takes only browser tokens. */
  canStream() {
    return this.sse && typeof EventSource === "function" && String(this.token ?? "").startsWith("bbt_");
  }
}
