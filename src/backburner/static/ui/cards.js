// One job's card: a dot, what is happening, a progress bar, the start of its input, partial
// results while it runs, its result or why it failed, and the buttons its state allows.
// `update(job)` changes only what changed, so a progress event never replaces the button
// that has the keyboard focus, nor restarts a playing video.

import {h, relativeTime} from "./dom.js";
import {inputExcerpt, renderOutput, renderPartial} from "./results.js";
import {kindTitle, statusLine} from "./words.js";

/** The API's clock as this browser sees it: `offset` ms are added to `Date.now()`. */
export const clock = {offset: 0, now() { return Date.now() + this.offset; }};

const ACTIVE = ["queued", "running"];
const CONFIRM_MS = 4000;

/** What a card shows: the job's status, or "slow" for an active job past its `slow_at`. The
 * API's `slow` is computed when the job was read, so the page keeps time itself. */
export function stateOf(job, now = clock.now()) {
  return ACTIVE.includes(job.status) && now >= Date.parse(job.slow_at) ? "slow" : job.status;
}

// The buttons of each state: [action, label, class]. "delete" asks once more before it acts.
const BUTTONS = {
  queued: [["cancel", "Cancel", ""]],
  running: [["cancel", "Cancel", ""]],
  slow: [["restart", "Retry", "primary"], ["cancel", "Cancel", ""]],
  failed: [["retry", "Regenerate", "primary"], ["delete", "Delete", "danger"]],
  canceled: [["retry", "Retry", "primary"], ["delete", "Delete", "danger"]],
  succeeded: [["delete", "Delete", "danger"]],
};
// What a card says while its action is under way.
const BUSY = {cancel: "Canceling…", restart: "Restarting…", retry: "Starting again…", delete: "Deleting…"};

/** A job's card. `actions[name](job)` performs a button's action (it reports its own errors);
 * `onState(card, before, after)` hears every change of state after the first render. */
export class Card {
  constructor(job, {actions, onState, single = false, resolve}) {
    Object.assign(this, {actions, onState, single, resolve, busy: null, confirming: false, state: null});
    const id = `job-${job.id}`;
    const title = kindTitle(job.kind);
    this.time = h("time", {class: "job-time"});
    this.status = h("p", {class: "job-status"});
    this.bar = h("div", {class: "bar", role: "progressbar", "aria-label": `${title} progress`,
      "aria-valuemin": 0, "aria-valuemax": 100}, h("span"));
    this.body = h("div", {class: "job-body"});
    this.buttons = h("div", {class: "job-actions"});
    const excerpt = inputExcerpt(job.input);
    this.element = h("article", {class: "card job", "aria-labelledby": `${id}-title`, dataset: {jobId: job.id}},
      h("div", {class: "job-head"},
        h("span", {class: "dot", "aria-hidden": "true"}),
        h("h4", {id: `${id}-title`}, single ? title : h("a", {href: `?job=${encodeURIComponent(job.id)}`}, title)),
        this.time),
      this.status, this.bar,
      excerpt ? h("blockquote", {class: "job-input"}, `“${excerpt}”`) : null,
      this.body, this.buttons);
    this.update(job);
  }

  /** Show `job` (a newer state of the same job). */
  update(job) {
    this.job = job;
    this.render();
  }

  render() {
    const {job} = this;
    const state = stateOf(job);
    const before = this.state;
    this.state = state;
    this.element.dataset.state = state;
    this.status.textContent = this.busy ? BUSY[this.busy] : statusLine(job, state);
    this.renderBar(state);
    this.renderBody(state);
    this.renderButtons(state);
    this.tick();
    this.scheduleSlow();
    if (before !== null && before !== state) this.onState?.(this, before, state);
  }

  renderBar(state) {
    const active = ACTIVE.includes(state) || state === "slow";
    this.bar.hidden = !active;
    if (!active) return;
    const known = typeof this.job.progress === "number";
    this.bar.classList.toggle("unknown", !known);
    const percent = known ? Math.round(100 * Math.min(1, Math.max(0, this.job.progress))) : null;
    this.bar.firstChild.style.width = known ? `${percent}%` : "";
    if (known) this.bar.setAttribute("aria-valuenow", percent);
    else this.bar.removeAttribute("aria-valuenow");
  }

  renderBody(state) {
    const {job} = this;
    const shown = state === "succeeded" ? job.output : state === "failed" ? job.error : job.partial;
    const group = ["succeeded", "failed", "canceled"].includes(state) ? state : "active";
    const key = `${group}:${JSON.stringify(shown)}`;
    if (key === this.bodyKey) return; // unchanged: leave players and images alone
    this.bodyKey = key;
    if (state === "succeeded") this.body.replaceChildren(renderOutput(job.output, this.resolve));
    else if (state === "failed" && job.error?.message) {
      this.body.replaceChildren(h("details", {class: "job-error-detail"},
        h("summary", {}, "Details"), h("p", {}, job.error.message)));
    } else if (state === "canceled") this.body.replaceChildren();
    else this.body.replaceChildren(renderPartial(job.partial, this.resolve) ?? "");
  }

  renderButtons(state) {
    const key = `${state}:${this.busy}:${this.job.cancel_requested}:${this.confirming}`;
    if (key === this.buttonsKey) return;
    this.buttonsKey = key;
    const focused = this.buttons.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    const made = (BUTTONS[state] ?? []).map(([action, label, tone]) => this.button(action, label, tone));
    if (state === "succeeded" && !this.single) {
      made.unshift(h("a", {class: "button", href: `?job=${encodeURIComponent(this.job.id)}`, dataset: {action: "open"}}, "Open"));
    }
    this.buttons.replaceChildren(...made);
    if (focused) (made.find((b) => b.dataset.action === focused) ?? made[0] ?? this.element).focus?.();
  }

  // aria-disabled, not disabled: a disabled button drops the keyboard focus.
  button(action, label, tone) {
    const confirm = action === "delete" && this.confirming;
    return h("button", {
      type: "button", class: [tone, confirm ? "confirm" : ""].join(" ").trim() || null,
      "aria-disabled": this.unavailable(action) ? "true" : null,
      dataset: {action}, onclick: () => this.press(action),
    }, confirm ? "Delete for good?" : label);
  }

  unavailable(action) {
    return Boolean(this.busy) || (action === "cancel" && this.job.cancel_requested);
  }

  async press(action) {
    if (this.unavailable(action)) return;
    if (action === "delete" && !this.confirming) {
      this.confirming = true; // a second press within a few seconds deletes
      setTimeout(() => ((this.confirming = false), this.element.isConnected && this.render()), CONFIRM_MS);
      return this.render();
    }
    this.confirming = false;
    this.busy = action;
    this.render();
    try {
      await this.actions[action](this.job, this);
    } finally {
      this.busy = null;
      if (this.element.isConnected) this.render();
    }
  }

  /** Refresh the "3 min ago" label. */
  tick(now = clock.now()) {
    const at = this.job.finished_at ?? this.job.created_at;
    this.time.dateTime = at;
    this.time.title = new Date(at).toLocaleString();
    this.time.textContent = relativeTime(at, now);
  }

  // Turn amber at slow_at exactly, not at the next tick.
  scheduleSlow() {
    clearTimeout(this.slowTimer);
    const wait = Date.parse(this.job.slow_at) - clock.now();
    if (ACTIVE.includes(this.state) && wait > 0 && wait < 2 ** 31) {
      this.slowTimer = setTimeout(() => this.element.isConnected && this.render(), wait + 20);
    }
  }

  /** Stop its timer (the card is gone). */
  dispose() {
    clearTimeout(this.slowTimer);
  }
}
