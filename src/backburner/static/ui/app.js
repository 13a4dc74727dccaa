// The end user's page, /ui: their jobs as cards that change live over ONE connection
// (`bb.follow`), a form per kind, their credits. Built on /static/backburner.js, the module
// apps embed, so it is also the reference for how an app shows its jobs. `/ui?job=ID` shows
// that one job alone.

import {Backburner, isFinished} from "../backburner.js";
import {Board} from "./board.js";
import {clock} from "./cards.js";
import {CreditsView} from "./credits.js";
import {h} from "./dom.js";
import {JobForm} from "./form.js";
import {askForCredential, forget, keep, storedCredential} from "./session.js";
import {announce, toast} from "./toasts.js";
import {actionFailed, announcement, kindNoun, kindTitle, problemText} from "./words.js";

const PAGE = "user";
const TOKEN_TTL_S = 86400;
const LIST_LIMIT = 50;
// How long Retry on a running job waits for its worker to stop it (it checks every second).
const STOP_WAIT_MS = 60000;
const EXPIRED = "Your sign-in has expired. Please sign in again.";
// The API is where this module came from: /static/ui/app.js → "" (or "/bb" behind a proxy).
const API = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

const main = document.getElementById("main");
const client = new Backburner({baseUrl: API});
let session = null;
let signingIn = false;

start();

async function start(problem) {
  session?.stop();
  session = null;
  document.getElementById("signout").hidden = true;
  document.getElementById("credits").hidden = true;
  signingIn = true;
  try {
    client.token = await signIn(problem);
  } finally {
    signingIn = false;
  }
  try {
    session = await open();
  } catch (error) {
    if (error?.status === 401) return start(EXPIRED);
    main.replaceChildren(h("p", {class: "problem card", role: "alert"}, `The page could not load: ${problemText(error)}`));
  }
}

// A credential from the address, this browser, or the sign-in form. A key is traded for a
// browser token of its owner (EventSource can only send a bbt_ token): the key is not kept.
async function signIn(problem) {
  let credential = problem ? null : storedCredential(PAGE);
  for (;;) {
    credential ??= await askForCredential(main, {problem, hint: "An API key is used once, to get a token for a day; only the token is kept in this browser."});
    try {
      const token = credential.startsWith("bbt_") ? credential : await mint(credential);
      keep(PAGE, token);
      return token;
    } catch (error) {
      forget(PAGE);
      problem = error?.status === 401 ? "That token or key is not valid (or has expired)."
        : error?.status === 422 ? "That is an admin key: it has no jobs of its own. Use the operator page, /ui/admin."
        : `Couldn't sign in: ${problemText(error)}`;
      credential = null;
    }
  }
}

async function mint(key) {
  client.token = key;
  return (await client.request("POST", "/v1/tokens", {body: {ttl_s: TOKEN_TTL_S}})).body.token;
}

// The API's clock from a response's Date header (whole seconds): a phone minutes off must
// not show every job as slow, nor none.
async function fetchJson(path, query) {
  const {response, body} = await client.request("GET", path, {query});
  const server = Date.parse(response.headers.get("Date") ?? "");
  const offset = server + 500 - Date.now();
  if (!Number.isNaN(server)) clock.offset = Math.abs(offset) > 2000 ? offset : 0;
  return body;
}

// Signed in: lay the page out, show the jobs, follow them live.
async function open() {
  const single = new URLSearchParams(location.search).get("job");
  const jobs = h("div", {id: "jobs"});
  const more = h("button", {type: "button", hidden: true}, "Show older jobs");
  const panel = single ? null : h("section", {class: "card", "aria-labelledby": "new-job-title"},
    h("h2", {id: "new-job-title"}, "New job"), h("div", {id: "new-job"}, "Loading…"));
  const list = h("section", {"aria-labelledby": "jobs-title", tabindex: -1},
    h("div", {class: "section-head"}, h("h2", {id: "jobs-title"}, single ? "Job" : "Your jobs"),
      single ? h("a", {href: location.pathname}, "← All jobs") : null),
    jobs, more);
  main.replaceChildren(...[panel, list].filter(Boolean));

  const kinds = await client.kinds();
  const credits = new CreditsView(document.getElementById("credits"), client, {priced: kinds.some((k) => k.policy?.cost)});
  const channel = new BroadcastChannel("backburner.ui"); // deletes, to this browser's other tabs
  const board = new Board(jobs, {
    single, resolve: artifactUrl, actions: actionsFor(() => board, credits, channel),
    onStatus: () => credits.refresh(),
    onState: (job, before, after) => stateChanged(job, before, after),
  });
  channel.onmessage = ({data}) => data?.deleted && board.remove(data.deleted);
  if (panel) new JobForm(document.getElementById("new-job"), kinds, {submit: submitter(board, credits)});

  // Followed before the listing: a change in between reaches the card either way.
  const watch = client.follow((job) => board.upsert(job), {onError: (error) => lost(error)});
  const stop = () => (watch.close(), board.dispose(), channel.close());
  const resync = () => (single ? showOne(board, single) : showPage(board, more)).catch(() => {});
  try {
    await Promise.all([single ? showOne(board, single) : showPage(board, more), credits.load()]);
  } catch (error) {
    stop();
    throw error;
  }
  more.onclick = () => showPage(board, more, more.dataset.cursor).catch((e) => toast(actionFailed("load more", e), {tone: "error"}));
  // Back to this tab: catch up with what no event says (jobs deleted on another device).
  const visible = () => document.visibilityState === "visible" && resync();
  document.addEventListener("visibilitychange", visible);
  const signout = document.getElementById("signout");
  signout.hidden = false;
  signout.onclick = () => (forget(PAGE), start());
  return {
    stop() {
      stop();
      document.removeEventListener("visibilitychange", visible);
    },
  };
}

// The newest jobs (or the page after `cursor`); a first page also drops the cards of jobs
// that are gone.
async function showPage(board, more, cursor) {
  const {jobs, next_cursor: next} = await fetchJson("/v1/jobs", {limit: LIST_LIMIT, cursor});
  for (const job of jobs) board.upsert(job);
  if (!cursor) {
    const listed = new Set(jobs.map((job) => job.id));
    const oldest = Date.parse(jobs.at(-1)?.created_at ?? 0);
    for (const id of board.ids()) {
      if (!listed.has(id) && (!next || Date.parse(board.job(id).created_at) >= oldest)) board.remove(id);
    }
  }
  more.dataset.cursor = next ?? "";
  more.hidden = !next;
}

async function showOne(board, id) {
  try {
    board.upsert(await fetchJson(`/v1/jobs/${encodeURIComponent(id)}`));
  } catch (error) {
    if (error?.status !== 404) throw error;
    board.remove(id);
    board.empty.textContent = "This job does not exist, or it was deleted.";
  }
}

function stateChanged(job, before, after) {
  const ended = ["queued", "running", "slow"].includes(before);
  if (ended && after === "succeeded") toast(`Your ${kindNoun(job.kind)} is ready`);
  if (ended && after === "failed") toast(`Your ${kindNoun(job.kind)} could not be made`, {tone: "error"});
  else announce(announcement(job, after));
}

function submitter(board, credits) {
  return async (kind, input, {scope}) => {
    const job = await client.submit(kind, input, {scope});
    board.upsert(job);
    credits.refresh();
    announce(job.deduplicated ? `You already have this ${kindNoun(kind)}.` : `${kindTitle(kind)} started.`);
  };
}

// What the cards' buttons do. Each reports its own failure in a toast.
function actionsFor(board, credits, channel) {
  const act = (verb, work) => async (job) => {
    try {
      await work(job);
    } catch (error) {
      if (error?.status === 401) return expire();
      toast(actionFailed(verb, error), {tone: "error"});
    }
  };
  return {
    cancel: act("cancel", async (job) => board().upsert(await client.cancel(job.id))),
    retry: act("retry", async (job) => board().upsert(await client.retry(job.id))),
    restart: act("retry", (job) => restart(board(), job)),
    delete: act("delete", async (job) => {
      await client.delete(job.id).catch((error) => {
        if (error?.status !== 404) throw error; // already gone: take the card away too
      });
      board().remove(job.id);
      channel.postMessage({deleted: job.id});
      credits.refresh();
      announce(`${kindTitle(job.kind)} deleted.`);
    }),
  };
}

// Retry on a job still queued or running (slow): the API retries only finished jobs (409),
// so stop it, wait until it has stopped, then run it again — the same id, the same card.
async function restart(board, job) {
  let current = await client.cancel(job.id).catch((error) => {
    if (error?.status === 409) return client.get(job.id); // it finished meanwhile
    throw error;
  });
  board.upsert(current);
  if (!isFinished(current)) current = await board.until(job.id, isFinished, STOP_WAIT_MS);
  if (current.status !== "succeeded") board.upsert(await client.retry(job.id));
}

// An artifact's API path as a URL an <img> or <audio> can load: the token in the query.
function artifactUrl(url) {
  return url.startsWith("/v1/") ? client.url(url, {access_token: client.token}) : url;
}

// A 401 anywhere (the token expired): sign in again, once.
function expire() {
  if (!signingIn) start(EXPIRED);
}

function lost(error) {
  if (error?.status === 401) return expire();
  toast(`Live updates stopped: ${problemText(error)} Reload the page to try again.`, {tone: "error"});
}
