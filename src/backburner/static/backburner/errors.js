// backburner browser client: the error every failed request rejects with (see docs/browser.md).

/** An error answer of the API (RFC 9457 problem+json), or status 0 when the network failed. */
export class BackburnerError extends Error {
  constructor({status = 0, type = "about:blank", title = "", detail = "", errors = []} = {}, options) {
    super(detail || title || `HTTP ${status}`, options);
    this.name = "BackburnerError";
    /** HTTP status; 0 when no answer came back. */
    this.status = status;
    /** The problem type, e.g. "/problems/invalid-input". */
    this.type = type;
    this.title = title;
    this.detail = detail;
    /** For validation problems: [{field: "style.tone", message: "…"}, …]. */
    this.errors = Array.isArray(errors) ? errors : [];
  }
}

/** Whether asking again later may succeed: no answer, rate limited, or a server-side error. */
export const isRetryable = (error) =>
  error instanceof BackburnerError && (error.status === 0 || error.status === 429 || error.status >= 500);

