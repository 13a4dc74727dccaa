// The owner's credit balance in the top bar (GET /v1/credits), read again shortly after
// each status change of the owner's jobs: those are when credits are reserved, charged and
// refunded. A burst of changes costs one read.

import {h} from "./dom.js";

const SETTLE_MS = 300;
const number = new Intl.NumberFormat(undefined, {maximumFractionDigits: 2});

/** The balance shown in `element`; hidden while the owner has none and no kind costs any. */
export class CreditsView {
  constructor(element, client, {priced = false} = {}) {
    Object.assign(this, {element, client, priced, timer: null});
  }

  /** Read the balance now. A failure leaves the last one shown (it is not the page's point). */
  async load() {
    try {
      const {body} = await this.client.request("GET", "/v1/credits", {query: {limit: 1}});
      this.render(body);
    } catch (error) {
      if (error?.status === 401) throw error;
    }
  }

  /** Read it again soon: changes that arrive together cost one read. */
  refresh() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load().catch(() => {}), SETTLE_MS);
  }

  render({available, balance, reserved}) {
    this.element.hidden = !this.priced && !balance && !reserved;
    const held = reserved ? ` (${number.format(reserved)} held for queued jobs)` : "";
    this.element.title = `Balance ${number.format(balance)}${held}`;
    this.element.replaceChildren(h("strong", {}, number.format(available)), ` credit${available === 1 ? "" : "s"}`);
    if (reserved) this.element.append(h("span", {}, ` · ${number.format(reserved)} held`));
  }
}
