// Calls now, for operators (GET /calls?active=true, then the live `call` records): who
// calls whom, which agent, since when, who supervises; and the supervisor's controls on
// an answered call: listen in, whisper to the agent, barge in (POST /calls/{id}/supervise:
// the switch dials the supervisor's phone; the same buttons change the mode).

import { api, ApiError, LiveOrder } from "./api.js";
import { field, h, uid } from "./dom.js";
import { fmtDuration, t, tOr, tParts } from "./i18n.js";
import { loadPhones, phone } from "./phones.js";

const MODES = ["listen", "whisper", "barge"];
const PHONE_KEY = "desk.supervisorPhone"; // this browser remembers the operator's phone
const GONE_AFTER = 5000; // ms an ended call stays in the table, said ended

export class LiveCallsPanel {
  constructor() {
    this.calls = new Map();
    this.order = new LiveOrder(); // an answer older than a live record is not shown
    this.body = h("div", { class: "calls-list" });
    this.status = h("p", { role: "status", class: "supervise-status" });
    this.phone = h("input", {
      dir: "ltr",
      autocomplete: "off",
      size: "14",
      value: localStorage.getItem(PHONE_KEY) || "",
      onchange: () => localStorage.setItem(PHONE_KEY, this.phone.value.trim()),
    });
    this.timer = setInterval(() => this.render(), 1000);
    const titleId = uid("h");
    this.element = h(
      "section",
      { class: "card live-calls", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("calls.title")),
      h("div", { class: "row" }, field(t("calls.my_phone"), this.phone)),
      h("p", { class: "muted" }, t("calls.my_phone_help")),
      this.body,
      this.status,
    );
  }

  stop() {
    clearInterval(this.timer);
  }

  async load() {
    let calls;
    try {
      calls = await api("GET", "/calls?active=true");
    } catch (err) {
      const text = err instanceof ApiError && err.status === 503 ? t("calls.no_sip") : err.message;
      this.body.replaceChildren(h("p", { class: "muted" }, text));
      this.off = true;
      return;
    }
    this.off = false;
    this.calls = new Map(calls.map((c) => [c.id, c]));
    await loadPhones(calls.flatMap((c) => [c.from, c.to]).filter((n) => n && n.startsWith("+")));
    this.render();
  }

  // A live `call` record.
  async heard(record) {
    if (this.off) return;
    this.order.heard();
    if (!this.calls.has(record.id)) await loadPhones([record.from, record.to].filter((n) => n && n.startsWith("+")));
    this.calls.set(record.id, record);
    if (record.state === "ended") setTimeout(() => this.forget(record.id), GONE_AFTER);
    this.render();
  }

  forget(id) {
    if (this.calls.get(id)?.state === "ended") this.calls.delete(id);
    this.render();
  }

  render() {
    if (this.off) return;
    const calls = [...this.calls.values()];
    if (!calls.length) {
      this.body.replaceChildren(h("p", { class: "muted" }, t("calls.none")));
      return;
    }
    const now = Date.now();
    this.body.replaceChildren(
      h(
        "table",
        {},
        h("caption", {}, t("calls.caption")),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["calls.from", "calls.to", "calls.agent", "calls.state", "calls.for", "calls.supervisor", "calls.actions"].map((k) =>
              h("th", { scope: "col" }, t(k)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          calls.map((c) => {
            const since = c.answered_at || c.started_at;
            const sup = c.supervisor;
            return h(
              "tr",
              { "data-call": c.id, "data-state": c.state },
              h("td", { dir: "ltr", class: "number" }, party(c.from)),
              h("td", { dir: "ltr", class: "number" }, party(c.to)),
              h("td", {}, c.agent || ""),
              h("td", {}, tOr(`calls.state_${c.state}`, c.state)),
              h("td", {}, since && c.state !== "ended" ? fmtDuration((now - Date.parse(since)) / 1000) : ""),
              h("td", { class: "supervisor" }, sup ? this.supervisor(sup) : ""),
              h("td", { class: "actions" }, this.actions(c)),
            );
          }),
        ),
      ),
    );
  }

  // "ops: Listen": the person's id kept whole in a right-to-left sentence
  supervisor(sup) {
    const key = `calls.sup_${sup.answered ? "on" : "dialing"}`;
    return tParts(key, { who: h("bdi", {}, sup.by), mode: t(`calls.mode_${sup.mode}`) });
  }

  actions(c) {
    // only a conversation now can be supervised; GSM calls cannot (409)
    if (c.state !== "answered" || c.channel === "gsm") return null;
    const who = c.agent || party(c.from);
    return MODES.map((mode) =>
      h(
        "button",
        {
          type: "button",
          "aria-pressed": String(c.supervisor?.mode === mode),
          "aria-label": t(`calls.${mode}_label`, { who }),
          onclick: () => this.supervise(c, mode),
        },
        t(`calls.mode_${mode}`),
      ),
    );
  }

  async supervise(c, mode) {
    const body = { mode };
    const mine = this.phone.value.trim();
    if (mine) body.phone = mine;
    this.status.textContent = t("calls.dialing", { mode: t(`calls.mode_${mode}`) });
    try {
      // a live record that came meanwhile is newer (the phone answered before the reply)
      const record = await this.order.answer(() => api("POST", `/calls/${encodeURIComponent(c.id)}/supervise`, body));
      if (record) this.calls.set(record.id, record);
      const on = this.calls.get(c.id)?.supervisor?.answered;
      this.status.textContent = t(on ? "calls.now" : "calls.supervising", { mode: t(`calls.mode_${mode}`) });
      this.render();
    } catch (err) {
      this.status.textContent = t("health.failed", { why: err.message });
    }
  }
}

function party(n) {
  return n && n.startsWith("+") ? phone(n) : n || "";
}
