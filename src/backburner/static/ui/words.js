// What the page says, in words a person understands: kind names, status lines, why a job
// failed (docs/errors.md has the closed set of error types), and why an action did not work.

/** "script_video" → "Script video" (a heading). */
export const kindTitle = (kind) => {
  const words = String(kind ?? "job").replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** "script_video" → "script video" (inside a sentence). */
export const kindNoun = (kind) => kindTitle(kind).toLowerCase();

// One sentence per error type: what happened, and what to do about it.
const REASONS = {
  timeout: "It took too long and was stopped. Please try again.",
  expired: "It waited too long to finish and was given up on. Please try again.",
  worker_lost: "The server working on it stopped unexpectedly, more than once. Please try again later.",
  provider_error: "The AI service it relies on is having trouble right now. Please try again in a few minutes.",
  invalid_output: "The AI answered with something that could not be used. Please try again.",
  handler_error: "Something went wrong while making it. Please try again.",
};

/** Why a job failed: a plain sentence for its error type (the raw message goes in details). */
export function failureSentence(job) {
  const reason = REASONS[job.error?.type] ?? "Something went wrong. Please try again.";
  return `Sorry, your ${kindNoun(job.kind)} could not be made. ${reason}`;
}

/** The line under a card's title for its state ("slow" is a state, not a status). */
export function statusLine(job, state) {
  if (state === "slow") return "Taking longer than expected…";
  if (state === "failed") return failureSentence(job);
  if (state === "canceled") return "Canceled.";
  if (state === "succeeded") return "Ready.";
  if (job.cancel_requested) return "Stopping…";
  if (job.message) return job.message;
  if (state === "queued") return job.attempt > 0 ? "Waiting to try again…" : "Waiting to start…";
  return "Working on it…";
}

/** What a screen reader hears when a card changes state. */
export function announcement(job, state) {
  if (state === "succeeded") return `Your ${kindNoun(job.kind)} is ready.`;
  return `${kindTitle(job.kind)}: ${statusLine(job, state)}`;
}

/** Why an action failed, for an error toast: "Couldn't retry: …". */
export function actionFailed(verb, error) {
  return `Couldn't ${verb}: ${problemText(error)}`;
}

/** A request's error in words: the API's detail where it says something useful. */
export function problemText(error) {
  const status = error?.status;
  if (status === 0) return "the server could not be reached. Check your connection.";
  if (status === 401) return "your sign-in has expired. Please sign in again.";
  if (status === 402) return "you don't have enough credits for this.";
  if (status === 404) return "it no longer exists.";
  if (status === 429) return "too many requests at once. Please wait a moment.";
  if (status >= 500) return "the server had a problem. Please try again.";
  const text = String(error?.detail || error?.message || "something went wrong.");
  return text.charAt(0).toLowerCase() + text.slice(1);
}
