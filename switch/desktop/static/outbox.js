// Outgoing SMS waiting to be sent (GET /outbox): to whom, through which modem, how many
// tries and the last error, when the next try is. Looked at every few seconds while
// the console is open.

import { api } from "./api.js";
import { h, uid } from "./dom.js";
import { fmtDateTime, fmtNumber, t } from "./i18n.js";
import { loadPhones, phone } from "./phones.js";

const EVERY = 5000;

export class OutboxPanel {
  constructor() {
    this.body = h("div", { class: "outbox-list" });
    this.timer = null;
    const titleId = uid("h");
    this.element = h(
      "section",
      { class: "card outbox", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("outbox.title")),
      this.body,
    );
  }

  start() {
    this.load();
    this.timer = setInterval(() => this.load(), EVERY);
  }

  stop() {
    clearInterval(this.timer);
  }

  async load() {
    let waiting;
    try {
      waiting = await api("GET", "/outbox");
    } catch (err) {
      this.body.replaceChildren(h("p", { class: "muted" }, err.status === 503 ? t("health.no_modems") : err.message));
      return;
    }
    await loadPhones(waiting.map((m) => m.to));
    if (!waiting.length) {
      this.body.replaceChildren(h("p", { class: "muted" }, t("outbox.empty")));
      return;
    }
    this.body.replaceChildren(
      h(
        "table",
        {},
        h("caption", {}, t("outbox.caption", { count: fmtNumber(waiting.length) })),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["outbox.to", "outbox.text", "health.modem", "outbox.attempts", "outbox.error", "outbox.next"].map((k) =>
              h("th", { scope: "col" }, t(k)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          waiting.map((m) =>
            h(
              "tr",
              { "data-message": m.id },
              h("td", { dir: "ltr" }, phone(m.to)),
              h("td", { dir: "auto" }, m.text.length > 60 ? `${m.text.slice(0, 59)}…` : m.text),
              h("td", {}, m.modem),
              h("td", {}, fmtNumber(m.attempts)),
              h("td", {}, m.error || ""),
              h("td", {}, m.next_attempt_at ? fmtDateTime(m.next_attempt_at) : t("outbox.now")),
            ),
          ),
        ),
      ),
    );
  }
}
