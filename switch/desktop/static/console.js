// The console of operators and technicians: the wallboard (queues, agents, today's
// figures when the switch has statistics), modems and trunks in plain words with their
// checks, the config file's check, the audit trail. Technicians get the health panel,
// the config check and the audit trail.

import { api, ApiError } from "./api.js";
import { field, h, uid } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtNumber, t, tOr } from "./i18n.js";
import { LiveCallsPanel } from "./calls.js";
import { ConfigPanel } from "./config.js";
import { ContactsPanel } from "./contacts.js";
import { OutboxPanel } from "./outbox.js";
import { loadPhones, phone } from "./phones.js";
import { RecordingsPanel } from "./recordings.js";
import { pct, TodayFigures } from "./wallboard.js";
import { describeEvent } from "./workspace.js";

const HEALTH_EVERY = 15000;
const REGISTRATION_LOOK = { peering: "ok", registered: "ok", registering: "warn", unknown: "warn" };
const AUDIT_ROWS = 50;

function table(caption, headings, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows),
  );
}

function section(title, ...content) {
  const id = uid("h");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...content);
}

// A modem's state in words: "Ready · Cellcard · signal good (-71 dBm)".
function signalWords(dbm) {
  if (dbm === null || dbm === undefined) return t("signal.unknown");
  const level = dbm >= -70 ? "strong" : dbm >= -85 ? "good" : dbm >= -100 ? "weak" : "very_weak";
  return t(`signal.${level}`, { dbm: fmtNumber(dbm) });
}

function checksList(checks) {
  return h(
    "ul",
    { class: "checks" },
    checks.map((c) =>
      h(
        "li",
        { class: `check ${c.status}` },
        h("strong", {}, tOr(`check.${c.status}`, c.status)),
        ` ${c.name}: ${c.detail}`,
      ),
    ),
  );
}

export class ConsoleView {
  constructor(session) {
    this.session = session;
    this.operator = session.role === "operator";
    this.technician = session.role === "technician";
    this.agents = new Map();
    this.queues = [];
    this.live = null;
    this.timers = [];
    this.wallQueues = h("div", { class: "wall-queues" });
    this.wallAgents = h("div", { class: "wall-agents" });
    this.today = new TodayFigures();
    this.today.onQueues = () => this.renderQueues();
    this.kpis = this.today.element;
    this.modems = h("div", { class: "modems" });
    this.trunks = h("div", { class: "trunks" });
    this.healthResult = h("div", { class: "health-result", role: "status", "aria-live": "polite" });
    this.problems = h("div", { class: "problems", role: "status", "aria-live": "polite" });
    this.auditBody = h("tbody");
    const parts = [];
    if (this.operator) {
      parts.push(section(t("wall.title"), this.kpis, this.wallQueues, this.wallAgents));
      this.calls = new LiveCallsPanel();
      parts.push(this.calls.element);
      this.contacts = new ContactsPanel(describeEvent);
      parts.push(this.contacts.element);
    }
    parts.push(
      section(t("health.title"), this.problems, this.modems, this.trunks, this.healthResult),
    );
    this.config = new ConfigPanel();
    parts.push(this.config.element);
    this.outbox = new OutboxPanel();
    parts.push(this.outbox.element);
    if (this.operator) {
      this.recordings = new RecordingsPanel();
      parts.push(this.recordings.element);
    }
    parts.push(
      section(
        t("audit.title"),
        h(
          "table",
          {},
          h("caption", {}, t("audit.caption")),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["audit.when", "audit.who", "audit.role", "audit.action", "audit.target", "audit.outcome"].map(
                (k) => h("th", { scope: "col" }, t(k)),
              ),
            ),
          ),
          this.auditBody,
        ),
      ),
    );
    this.element = h("div", { class: "console" }, parts);
    this.timers.push(setInterval(() => this.renderAgents(), 1000));
  }

  destroy() {
    for (const timer of this.timers) clearInterval(timer);
    this.today.stop();
    this.outbox.stop();
    this.calls?.stop();
  }

  handlers() {
    return {
      hello: (data) => {
        this.agents = new Map(data.agents.map((a) => [a.id, a]));
        this.queues = data.queues;
        this.today.setQueues(this.queues.map((q) => q.id));
        this.renderQueues();
        this.renderAgents();
      },
      agent: (agent) => {
        this.agents.set(agent.id, agent);
        this.renderAgents();
      },
      queues: (queues) => {
        this.queues = queues;
        this.today.setQueues(queues.map((q) => q.id));
        this.renderQueues();
        if (this.operator) this.today.poke(); // the day's figures move with the queues
      },
      call: (record) => this.calls?.heard(record),
      audit: (entry) => {
        this.addAudit(entry, true);
        this.config.heard(entry);
      },
      resync: () => this.start(),
      ping: () => {},
    };
  }

  async start() {
    this.outbox.stop();
    this.outbox.start();
    const recordings = this.recordings ? this.recordings.search() : null;
    const config = this.config.load();
    const calls = this.calls ? this.calls.load() : null;
    await Promise.all([this.loadHealth(), this.loadAudit(), this.loadKpis(), recordings, config, calls]);
    this.timers.push(setInterval(() => this.loadModems(), HEALTH_EVERY));
    this.timers.push(setInterval(() => this.loadTrunks(), HEALTH_EVERY));
    this.timers.push(setInterval(() => this.loadProblems(), HEALTH_EVERY));
    if (this.operator) this.timers.push(setInterval(() => this.loadKpis(), 60000));
  }

  // ------------------------------------------------------------ wallboard

  renderQueues() {
    if (!this.operator) return;
    this.wallQueues.replaceChildren(
      table(
        t("wall.queues"),
        [t("queues.queue"), t("queues.waiting"), t("queues.longest"), t("queues.available"), t("queues.sl_today"), t("queues.abandoned_today")],
        this.queues.map((q) => {
          const day = this.today.byQueue.get(q.id);
          return h(
            "tr",
            { "data-queue": q.id },
            h("th", { scope: "row" }, q.id),
            h("td", { class: "waiting" }, fmtNumber(q.waiting)),
            h("td", {}, fmtDuration(q.longest_wait)),
            h("td", {}, fmtNumber(q.agents_available)),
            h("td", { class: "sl" }, day ? pct(day.service_level) : "–"),
            h("td", { class: "abandoned" }, day ? fmtNumber(day.abandoned ?? 0) : "–"),
          );
        }),
      ),
    );
  }

  renderAgents() {
    if (!this.operator) return;
    const now = Date.now();
    this.wallAgents.replaceChildren(
      table(
        t("wall.agents"),
        [t("wall.agent"), t("wall.state"), t("wall.for"), t("reason.label")],
        [...this.agents.values()].map((a) =>
          h(
            "tr",
            { "data-agent": a.id },
            h("th", { scope: "row" }, a.name || a.id),
            h("td", { class: `state ${a.state}` }, t(`state.${a.state}`)),
            h("td", {}, a.since ? fmtDuration((now - Date.parse(a.since)) / 1000) : ""),
            h("td", {}, a.reason ? tOr(`reason.${a.reason}`, a.reason) : ""),
          ),
        ),
      ),
    );
  }

  // Today's figures and charts, when the switch has statistics (GET /api/v1/stats).
  async loadKpis() {
    if (this.operator) await this.today.load();
  }

  // --------------------------------------------------------------- health

  async loadHealth() {
    await Promise.all([this.loadProblems(), this.loadModems(), this.loadTrunks()]);
  }

  // What is wrong now (GET /health): one plain line per fault, from the switch.
  async loadProblems() {
    let health;
    try {
      health = await api("GET", "/health");
    } catch (err) {
      this.problems.replaceChildren();
      return;
    }
    if (!health.problems.length) {
      this.problems.replaceChildren(h("p", { class: "muted" }, t("health.all_ok")));
      return;
    }
    this.problems.replaceChildren(
      h("h3", {}, t("health.problems")),
      h("ul", { class: "checks" }, health.problems.map((line) => h("li", { class: "check fail" }, line))),
    );
  }

  async loadModems() {
    let modems;
    try {
      modems = await api("GET", "/modems");
    } catch (err) {
      const text = err instanceof ApiError && err.status === 503 ? t("health.no_modems") : err.message;
      this.modems.replaceChildren(h("p", { class: "muted" }, text));
      return;
    }
    this.modems.replaceChildren(
      table(
        t("health.modems"),
        [t("health.modem"), t("health.state"), t("health.signal"), t("health.actions")],
        modems.map((m) =>
          h(
            "tr",
            { "data-modem": m.id },
            h("th", { scope: "row" }, m.id),
            h(
              "td",
              {},
              tOr(`modem.${m.state}`, m.state),
              m.operator ? ` · ${m.operator}` : "",
              m.registered ? "" : ` · ${t("modem.not_registered")}`,
            ),
            h("td", {}, signalWords(m.signal)),
            h("td", { class: "actions" }, this.modemActions(m)),
          ),
        ),
      ),
    );
  }

  modemActions(m) {
    const out = [
      h(
        "button",
        {
          type: "button",
          onclick: () =>
            this.run(t("health.diagnosing", { id: m.id }), async () => {
              const report = await api("POST", `/modems/${encodeURIComponent(m.id)}/diagnose`);
              return checksList(report.checks);
            }),
        },
        t("health.diagnose", { id: m.id }),
      ),
    ];
    if (this.technician) {
      const code = h("input", { dir: "ltr", pattern: "[0-9*#+]+", size: "8", required: true });
      out.push(
        h(
          "form",
          {
            class: "ussd",
            onsubmit: (event) => {
              event.preventDefault();
              this.run(t("health.ussd_sending", { id: m.id }), async () => {
                const answer = await api("POST", `/modems/${encodeURIComponent(m.id)}/ussd`, {
                  code: code.value,
                });
                return h("p", { dir: "auto" }, answer.text);
              });
            },
          },
          field(t("health.ussd_code", { id: m.id }), code),
          h("button", { type: "submit" }, t("health.ussd_send")),
        ),
      );
    }
    return out;
  }

  async loadTrunks() {
    let trunks;
    try {
      trunks = await api("GET", "/trunks");
    } catch {
      this.trunks.replaceChildren(h("p", { class: "muted" }, t("health.no_trunks")));
      return;
    }
    await loadPhones(trunks.flatMap((tr) => tr.dids));
    this.trunks.replaceChildren(
      table(
        t("health.trunks"),
        [t("health.trunk"), t("health.registration"), t("health.address"), t("health.numbers"), t("health.actions")],
        trunks.map((tr) =>
          h(
            "tr",
            { "data-trunk": tr.id },
            h("th", { scope: "row" }, tr.id),
            h("td", { class: `registration ${REGISTRATION_LOOK[tr.registration] || "warn"}` }, tOr(`registration.${tr.registration}`, tr.registration)),
            h("td", { dir: "ltr" }, `${tr.host}:${tr.port} (${tr.transport})`),
            h("td", { dir: "ltr" }, tr.dids.map((d) => phone(d)).join(", ")),
            h(
              "td",
              {},
              h(
                "button",
                {
                  type: "button",
                  onclick: () =>
                    this.run(t("health.testing", { id: tr.id }), async () => {
                      const report = await api("POST", `/trunks/${encodeURIComponent(tr.id)}/test`, {});
                      return checksList(report.checks);
                    }),
                },
                t("health.test", { id: tr.id }),
              ),
            ),
          ),
        ),
      ),
    );
  }

  async run(what, work) {
    this.healthResult.replaceChildren(h("p", {}, what));
    try {
      this.healthResult.replaceChildren(h("p", {}, what), await work());
    } catch (err) {
      this.healthResult.replaceChildren(
        h("p", {}, what),
        h("p", { class: "problem" }, t("health.failed", { why: err.message })),
      );
    }
  }

  // ---------------------------------------------------------------- audit

  async loadAudit() {
    try {
      const entries = await api("GET", `/audit?limit=${AUDIT_ROWS}`);
      this.auditBody.replaceChildren();
      for (const entry of entries) this.addAudit(entry, true);
    } catch (err) {
      this.auditBody.replaceChildren(h("tr", {}, h("td", { colspan: "6" }, err.message)));
    }
  }

  addAudit(entry, newest) {
    if (this.auditBody.querySelector(`[data-id="${entry.id}"]`)) return;
    const row = h(
      "tr",
      { "data-id": entry.id },
      h("td", {}, h("time", { datetime: entry.at }, fmtDateTime(entry.at))),
      h("td", {}, entry.who),
      h("td", {}, tOr(`role.${entry.role}`, entry.role)),
      h("td", {}, tOr(`action.${entry.action}`, entry.action)),
      h("td", { class: "wrap-anywhere", dir: "auto" }, entry.target ?? ""),
      h("td", {}, entry.outcome),
    );
    if (newest) this.auditBody.prepend(row);
    else this.auditBody.append(row);
    while (this.auditBody.children.length > AUDIT_ROWS) this.auditBody.lastChild.remove();
  }
}
