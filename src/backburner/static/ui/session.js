// Signing the dashboard in: a credential from the URL's fragment (`/ui#token=bbt_…`, which
// `backburner demo` prints and which never reaches a server log), else the one this browser
// kept, else a sign-in form. The end user's browser token (short-lived) is kept in localStorage,
// so a reload or a second tab is signed in too; an admin key (which does not expire) only in
// this tab's sessionStorage: it survives reloads, not the tab.

import {h} from "./dom.js";

const STORE = "backburner.dashboard";
const storage = (page) => (page === "admin" ? sessionStorage : localStorage);

/** The kept credential of `page` ("user" or "admin"), taking a fresh one from the fragment. */
export function storedCredential(page) {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("token") ?? fragment.get("key");
  if (given) {
    keep(page, given);
    history.replaceState(null, "", location.pathname + location.search); // out of the address bar
  }
  return storage(page).getItem(`${STORE}.${page}`);
}

/** Keep `credential` for `page`: in this browser (the user's page), in this tab (admin). */
export function keep(page, credential) {
  storage(page).setItem(`${STORE}.${page}`, credential);
}

/** Forget the credential of `page` (sign out, or one the API refused). */
export function forget(page) {
  storage(page).removeItem(`${STORE}.${page}`);
}

/**
 * A sign-in form in `container`; resolves with what was typed. `problem` is shown above it
 * (why signing in is needed again).
 */
export function askForCredential(container, {label, hint, problem} = {}) {
  return new Promise((resolve) => {
    const input = h("input", {
      id: "credential", type: "password", required: true, autocomplete: "off", spellcheck: "false",
      "aria-describedby": "credential-hint",
    });
    const form = h("form", {class: "signin card", onsubmit: (event) => {
      event.preventDefault();
      resolve(input.value.trim());
    }},
      h("h2", {}, "Sign in"),
      problem ? h("p", {class: "problem", role: "alert"}, problem) : null,
      h("label", {for: "credential"}, label ?? "Browser token or API key"),
      input,
      h("p", {id: "credential-hint", class: "hint"}, hint ?? "Kept in this browser only."),
      h("button", {type: "submit", class: "primary"}, "Sign in"),
    );
    container.replaceChildren(form);
    input.focus();
  });
}
