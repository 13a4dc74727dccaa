// The owner's jobs as cards, grouped by scope, newest first: the groups by their newest job,
// the cards by when they were submitted. Fed job states in any order (a listing, the live
// stream, an action's answer); an older state of a job never replaces a newer one.

import {h} from "./dom.js";
import {Card} from "./cards.js";

const TICK_MS = 15000;

// Microseconds since the epoch of an API timestamp (Date.parse stops at milliseconds, and
// two changes of one job may fall in the same one).
function micros(iso) {
  const [, whole, fraction = "", zone = ""] = /^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$/.exec(iso ?? "") ?? [];
  const ms = Date.parse(`${whole}${zone}`);
  return Number.isNaN(ms) ? 0 : ms * 1000 + Number(fraction.padEnd(6, "0").slice(0, 6));
}

/** Cards in `container`. `single`: the one job id this page shows, or null for all. */
export class Board {
  constructor(container, {actions, onState, onStatus, single = null, resolve}) {
    Object.assign(this, {container, actions, onState, onStatus, single, resolve});
    this.cards = new Map();
    this.groups = new Map();
    this.waiters = new Set();
    this.empty = h("p", {class: "empty"}, single ? "Loading…" : "No jobs yet. Start one above.");
    container.replaceChildren(this.empty);
    this.ticker = setInterval(() => this.cards.forEach((card) => card.tick()), TICK_MS);
  }

  /** Show `job`: a new card, or a newer state of a card shown. */
  upsert(job) {
    if (this.single && job.id !== this.single) return;
    const card = this.cards.get(job.id);
    if (!card) {
      this.add(job);
      this.onStatus?.(job, null); // new to this page: it may have reserved or spent credits
    } else if (micros(job.updated_at) >= micros(card.job.updated_at)) {
      const before = card.job.status;
      card.update(job);
      if (before !== job.status) this.onStatus?.(job, before);
    }
    for (const waiter of this.waiters) {
      if (waiter.id === job.id && waiter.predicate(this.cards.get(job.id).job)) {
        this.waiters.delete(waiter);
        waiter.resolve(this.cards.get(job.id).job);
      }
    }
  }

  /** Take a job's card away (deleted); focus moves to the next card, not to the page top. */
  remove(id) {
    const card = this.cards.get(id);
    if (!card) return;
    const next = card.element.nextElementSibling ?? card.element.previousElementSibling;
    const hadFocus = card.element.contains(document.activeElement);
    card.dispose();
    card.element.remove();
    this.cards.delete(id);
    const group = this.groups.get(card.job.scope ?? "");
    if (group && !group.querySelector(".job")) {
      group.remove();
      this.groups.delete(card.job.scope ?? "");
    }
    if (this.single) this.empty.textContent = "This job was deleted.";
    this.refreshHeadings();
    if (hadFocus) (next?.querySelector("button, a") ?? this.container.closest("section") ?? document.body).focus();
  }

  /** A promise of the job once `predicate(job)` holds (rejects after `ms`). */
  until(id, predicate, ms) {
    const job = this.cards.get(id)?.job;
    if (job && predicate(job)) return Promise.resolve(job);
    return new Promise((resolve, reject) => {
      const waiter = {id, predicate, resolve};
      this.waiters.add(waiter);
      setTimeout(() => this.waiters.delete(waiter) && reject(new Error("the job did not stop in time")), ms);
    });
  }

  /** The job shown for `id`, if any. */
  job(id) {
    return this.cards.get(id)?.job ?? null;
  }

  /** The ids of the cards shown. */
  ids() {
    return [...this.cards.keys()];
  }

  add(job) {
    const card = new Card(job, {
      actions: this.actions, single: Boolean(this.single), resolve: this.resolve,
      onState: (changed, before, after) => this.onState?.(changed.job, before, after),
    });
    this.cards.set(job.id, card);
    const group = this.group(job.scope);
    const after = [...group.querySelectorAll(".job")].find((other) => this.older(other, job));
    group.insertBefore(card.element, after ?? null);
    this.placeGroup(group);
    this.empty.remove();
  }

  older(element, job) {
    const other = this.cards.get(element.dataset.jobId)?.job;
    return other && micros(other.created_at) < micros(job.created_at);
  }

  group(scope) {
    const key = scope ?? "";
    let group = this.groups.get(key);
    if (!group) {
      group = h("section", {class: "group", dataset: {scope: key}, "aria-label": scope ?? "Other jobs"},
        h("h3", {}, scope ?? "Other jobs"));
      this.groups.set(key, group);
      this.container.append(group);
      this.refreshHeadings();
    }
    return group;
  }

  // Groups by their newest card, newest first.
  placeGroup(group) {
    const newest = (g) => micros(this.cards.get(g.querySelector(".job")?.dataset.jobId)?.job.created_at);
    const shown = [...this.container.querySelectorAll(":scope > .group")];
    const before = shown.find((other) => other !== group && newest(other) < newest(group));
    if (before && group.nextElementSibling !== before) this.container.insertBefore(group, before);
  }

  // "Other jobs" needs no heading when there is nothing else.
  refreshHeadings() {
    const alone = this.groups.size === 1;
    for (const [key, group] of this.groups) group.firstChild.hidden = alone && key === "";
    if (!this.cards.size && !this.empty.isConnected) this.container.append(this.empty);
  }

  /** Stop the timers (signing out). */
  dispose() {
    clearInterval(this.ticker);
    this.cards.forEach((card) => card.dispose());
  }
}
