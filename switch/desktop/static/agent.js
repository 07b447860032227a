// An agent's desk: their state (available, break with a reason, offline) and how long
// they have been in it; the work offered to them with the customer's context before
// they answer; a workspace per contact they work on; the contact search; the queues.

import { api, ApiError, LiveOrder } from "./api.js";
import { DeskPhone } from "./deskphone.js";
import { field, h, uid } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtNumber, t, tOr } from "./i18n.js";
import { attributesLine, contactTitle, numbersOf, searchCard } from "./contacts.js";
import { loadPhones, phone } from "./phones.js";
import { describeEvent, Workspace } from "./workspace.js";

const REASONS = ["lunch", "coffee", "training", "meeting", "other"];
const WORK_STATES = new Set(["ringing", "busy", "wrap_up"]);

// An open issue in words: "Needs follow-up · 3 Dec, 10:02 · bob: router replaced".
function issueWords(issue) {
  if (issue.kind === "callback") {
    const where = issue.position ? t("offer.issue_position", { position: fmtNumber(issue.position) }) : t(`offer.issue_${issue.state}`);
    return [h("strong", {}, t("offer.issue_callback")), ` · ${fmtDateTime(issue.at)} · ${issue.queue} · ${where}`];
  }
  const said = issue.text ? [" · ", h("bdi", {}, issue.agent || ""), ": ", h("q", { dir: "auto" }, issue.text)] : [];
  return [h("strong", {}, tOr(`disposition.${issue.disposition}`, issue.disposition)), ` · ${fmtDateTime(issue.at)}`, ...said];
}

export class AgentDesk {
  constructor(session) {
    this.session = session;
    this.me = session.user;
    this.agent = null;
    this.order = new LiveOrder(); // an older API answer is not shown over a live change
    this.offerData = null;
    this.workspaces = new Map(); // contact id -> Workspace
    this.current = null;
    this.live = null;
    this.deskPhone = new DeskPhone(this.me);
    this.element = this.build();
    this.tick = setInterval(() => this.renderClock(), 1000);
  }

  destroy() {
    clearInterval(this.tick);
    this.deskPhone.stop();
  }

  handlers() {
    return {
      hello: (data) => this.hello(data),
      agent: (data) => {
        this.order.heard();
        this.setAgent(data);
      },
      queues: (data) => this.renderQueues(data),
      conversation: (data) => this.conversation(data),
      offer: (data) => this.offer(data),
      journey: (data) => this.workspaces.get(data.contact_id)?.addEvent(data.event),
      call: (data) => this.call(data),
      resync: () => this.resync(),
      ping: () => {},
    };
  }

  // ---------------------------------------------------------------- layout

  build() {
    this.stateNow = h("p", { class: "state-now", role: "status", "aria-live": "polite" });
    this.clock = h("span", { class: "clock", "aria-hidden": "true" });
    this.buttons = {};
    const group = h("div", { role: "group", "aria-label": t("state.set"), class: "state-buttons" });
    for (const state of ["available", "break", "offline"]) {
      this.buttons[state] = h(
        "button",
        { type: "button", "aria-pressed": "false", onclick: () => this.setState(state) },
        t(`state.${state}`),
      );
      group.append(this.buttons[state]);
    }
    this.reason = h(
      "select",
      {},
      REASONS.map((r) => h("option", { value: r }, t(`reason.${r}`))),
    );
    this.stateProblem = h("p", { role: "alert", class: "problem" });
    const stateTitle = uid("h");
    const mine = h(
      "section",
      { class: "card state", "aria-labelledby": stateTitle },
      h("h2", { id: stateTitle }, t("state.title")),
      h("div", { class: "state-line" }, this.stateNow, this.clock),
      group,
      h("div", { class: "row" }, field(t("reason.label"), this.reason)),
      this.stateProblem,
    );
    this.offerBox = h("section", { class: "card offer", hidden: true, "aria-live": "assertive" });
    this.queueBox = h("section", { class: "card queues", "aria-labelledby": "queues-title" });
    this.tabs = h("div", { role: "tablist", "aria-label": t("work.tabs"), class: "tabs" });
    this.panels = h("div", { class: "panels" });
    this.workEmpty = h("p", { class: "muted" }, t("work.empty"));
    const workTitle = uid("h");
    const work = h(
      "section",
      { class: "card work", "aria-labelledby": workTitle },
      h("h2", { id: workTitle }, t("work.title")),
      this.workEmpty,
      this.tabs,
      this.panels,
    );
    return h(
      "div",
      { class: "desk" },
      h(
        "div",
        { class: "side" },
        mine,
        this.offerBox,
        this.deskPhone.element,
        this.searchBox(),
        this.queueBox,
      ),
      work,
    );
  }

  // ------------------------------------------------------------ my state

  hello(data) {
    const me = data.agents.find((a) => a.id === this.me);
    if (me) this.setAgent(me);
    this.renderQueues(data.queues);
    for (const conversation of data.conversations) this.conversation(conversation);
  }

  async start() {
    this.deskPhone.start();
    try {
      this.setAgent(await api("GET", `/agents/${encodeURIComponent(this.me)}`));
    } catch (err) {
      this.stateProblem.textContent = err.message;
    }
  }

  async resync() {
    await this.start();
    for (const ws of this.workspaces.values()) await ws.load();
  }

  setAgent(agent) {
    const was = this.agent;
    this.agent = agent;
    const pressed = WORK_STATES.has(agent.state) ? null : agent.state;
    for (const [state, button] of Object.entries(this.buttons)) {
      button.setAttribute("aria-pressed", String(state === pressed));
    }
    if (agent.state === "break" && agent.reason && REASONS.includes(agent.reason)) {
      this.reason.value = agent.reason;
    }
    let text = t(`state.${agent.state}`);
    if (agent.state === "break" && agent.reason) {
      text += ` · ${tOr(`reason.${agent.reason}`, agent.reason)}`;
    }
    if (agent.pending) text += ` · ${t("state.pending", { state: t(`state.${agent.pending.state}`) })}`;
    this.stateNow.textContent = text;
    this.stateNow.dataset.state = agent.state;
    this.renderClock();
    if (was && was.state === "ringing" && agent.state !== "ringing") this.offerEnded(agent);
  }

  renderClock() {
    if (!this.agent || !this.agent.since) {
      this.clock.textContent = "";
      return;
    }
    const seconds = (Date.now() - Date.parse(this.agent.since)) / 1000;
    this.clock.textContent = fmtDuration(seconds);
    this.clock.setAttribute("title", t("state.since", { time: fmtDateTime(this.agent.since) }));
  }

  async setState(state) {
    this.stateProblem.textContent = "";
    const body = { state };
    if (state === "break") body.reason = this.reason.value;
    try {
      const agent = await this.order.answer(() => api("POST", `/agents/${encodeURIComponent(this.me)}/state`, body));
      if (agent) this.setAgent(agent); // (available, then at once ringing: ringing stays)
    } catch (err) {
      this.stateProblem.textContent = err.message;
    }
  }

  // -------------------------------------------------------------- offers

  async offer(data) {
    if (this.offerGone(data)) return;
    this.offerData = data;
    const contact = data.contact || {};
    const numbers = (contact.numbers || []).map((n) => n.e164).filter(Boolean);
    const from = data.call ? data.call.from : null;
    await loadPhones([...numbers, from].filter(Boolean));
    if (this.offerGone(data)) return;
    const chat = data.kind === "conversation" && data.conversation?.channel === "chat";
    const unknown = chat ? t("offer.visitor") : t("offer.unknown");
    const who = contact.name || (contact.numbers?.[0]?.display ?? phone(from)) || unknown;
    let title = t("offer.conversation", { who });
    if (data.kind === "call") title = t("offer.call", { who });
    else if (chat) title = t("offer.chat", { who });
    const titleId = uid("h");
    const lastContacts = contact.last_contacts || [];
    // this call's menu choices ("main: 2") and the answers it gave while waiting
    const ivr = (data.call?.ivr || []).map((c) => `${c.menu}: ${c.digit}`);
    const answers = data.call?.answers || [];
    const issues = contact.open_issues || [];
    const parts = [
      h("h2", { id: titleId }, title),
      h(
        "p",
        { class: "numbers" },
        (contact.numbers || []).map((n) => h("span", { class: "number", dir: "ltr" }, n.display)),
        !numbers.length && from ? h("span", { class: "number", dir: "ltr" }, phone(from)) : null,
      ),
      h("h3", {}, t("offer.last_contacts")),
      lastContacts.length
        ? h(
            "ol",
            { class: "history" },
            lastContacts
              .slice()
              .reverse()
              .map((e) => h("li", {}, describeEvent(e), e.text ? [": ", quote(e.text)] : null)),
          )
        : h("p", { class: "muted" }, t("offer.first_contact")),
      ivr.length ? [h("h3", {}, t("offer.ivr")), h("p", { dir: "ltr", class: "ivr" }, ivr.join(" → "))] : null,
      answers.length
        ? [
            h("h3", {}, t("offer.answers")),
            h("dl", { class: "answers" }, answers.map((a) => [h("dt", {}, a.question), h("dd", { dir: "auto" }, a.answer)])),
          ]
        : null,
      h("h3", {}, t("offer.issues")),
      issues.length
        ? h("ul", { class: "issues" }, issues.map((i) => h("li", {}, issueWords(i))))
        : h("p", { class: "muted" }, t("offer.no_issues")),
      h("h3", {}, t("offer.csat")),
      contact.csat && contact.csat.length
        ? h(
            "ul",
            { class: "csat" },
            contact.csat.map((e) =>
              h(
                "li",
                {},
                t("offer.csat_score", { score: fmtNumber(e.score), date: fmtDateTime(e.at) }),
              ),
            ),
          )
        : h("p", { class: "muted" }, t("offer.no_csat")),
      h(
        "div",
        { class: "actions" },
        contact.id
          ? h(
              "button",
              { type: "button", class: "primary", onclick: () => this.open(contact.id) },
              t("offer.open"),
            )
          : null,
        h("button", { type: "button", onclick: () => this.dismissOffer() }, t("offer.dismiss")),
      ),
    ];
    this.offerBox.replaceChildren(...parts.flat().filter(Boolean));
    this.offerBox.setAttribute("aria-labelledby", titleId);
    this.offerBox.hidden = false;
    this.offerBox.dataset.kind = data.kind;
    this.offerBox.dataset.channel = data.conversation?.channel ?? "";
    if (data.kind === "conversation" && contact.id) {
      await this.open(contact.id, { focus: false, conversation: data.conversation || null });
    }
  }

  // A call offer that comes after the call stopped ringing here (a desk phone answered
  // at once, or it went elsewhere): not shown; answered, its workspace opens instead.
  offerGone(data) {
    if (data.kind !== "call" || !this.agent || this.agent.state === "ringing") return false;
    if (this.offerData === data) this.dismissOffer();
    if (this.agent.state === "busy" && data.contact?.id) this.open(data.contact.id, { focus: false });
    return true;
  }

  offerEnded(agent) {
    if (!this.offerData || this.offerData.kind !== "call") return;
    const contact = this.offerData.contact;
    if (agent.state === "busy" && contact && contact.id) this.open(contact.id);
    this.dismissOffer();
  }

  dismissOffer() {
    this.offerBox.hidden = true;
    this.offerBox.replaceChildren();
    this.offerData = null;
  }

  call(record) {
    this.deskPhone.setCall(record);
    if (record.agent !== this.me || !record.contact_id) return;
    const ws = this.workspaces.get(record.contact_id);
    if (ws) ws.callId = record.id;
    else if (record.state === "answered") {
      this.open(record.contact_id, { focus: false }).then((opened) => {
        opened.callId = record.id;
      });
    }
  }

  conversation(record) {
    if (record.agent === this.me && record.state === "assigned") {
      this.open(record.contact_id, { focus: false, conversation: record });
    }
    const ws = this.workspaces.get(record.contact_id);
    if (ws) ws.setConversation(record.state === "idle" ? null : record);
  }

  // ---------------------------------------------------------- workspaces

  async open(contactId, { focus = true, conversation = null } = {}) {
    let ws = this.workspaces.get(contactId);
    if (!ws) {
      ws = new Workspace(this, contactId);
      this.workspaces.set(contactId, ws);
      this.tabs.append(ws.tab);
      this.panels.append(ws.panel);
      this.workEmpty.hidden = true;
      this.live?.watch([...this.workspaces.keys()]);
      try {
        await ws.load();
      } catch (err) {
        this.close(contactId);
        throw err;
      }
    }
    if (conversation) ws.setConversation(conversation);
    this.select(contactId, focus);
    return ws;
  }

  select(contactId, focus = true) {
    for (const [id, ws] of this.workspaces) ws.show(id === contactId);
    this.current = contactId;
    if (focus) this.workspaces.get(contactId)?.tab.focus();
  }

  close(contactId) {
    const ws = this.workspaces.get(contactId);
    if (!ws) return;
    ws.tab.remove();
    ws.panel.remove();
    this.workspaces.delete(contactId);
    this.live?.watch([...this.workspaces.keys()]);
    const next = [...this.workspaces.keys()].pop();
    if (next) this.select(next);
    this.workEmpty.hidden = this.workspaces.size > 0;
  }

  moveTab(contactId, step) {
    const ids = [...this.workspaces.keys()];
    const at = ids.indexOf(contactId);
    const next = ids[(at + step + ids.length) % ids.length];
    if (next) this.select(next);
  }

  // -------------------------------------------------------------- search

  searchBox() {
    return searchCard({
      result: (contact) => this.searchResult(contact),
      nothing: (e164) =>
        e164
          ? [h("p", {}, t("search.none", { number: phone(e164) })), this.callButton(e164)]
          : h("p", {}, t("search.nothing")),
    });
  }

  searchResult(contact) {
    const problem = h("p", { role: "alert", class: "problem" });
    const numbers = numbersOf(contact);
    return h(
      "div",
      { class: "result" },
      h("p", { class: "name" }, contactTitle(contact)),
      attributesLine(contact),
      h("p", {}, numbers.map((n) => h("span", { class: "number", dir: "ltr" }, phone(n)))),
      h(
        "div",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              problem.textContent = "";
              try {
                await this.open(contact.id);
              } catch (err) {
                problem.textContent =
                  err instanceof ApiError && err.status === 403 ? t("search.not_yours") : err.message;
              }
            },
          },
          t("search.open", { who: contact.name || phone(numbers[0]) }),
        ),
        numbers.length ? this.callButton(numbers[0]) : null,
      ),
      problem,
    );
  }

  // Click-to-call: the agent's phone rings first, then the number.
  callButton(number) {
    const status = h("span", { role: "status", class: "call-status" });
    return h(
      "span",
      { class: "call" },
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            status.textContent = t("call.placing");
            try {
              await api("POST", "/calls", { agent: this.me, to: number });
              status.textContent = t("call.ringing_you");
            } catch (err) {
              status.textContent = t("call.failed", { why: err.message });
            }
          },
        },
        t("call.button", { number: phone(number) }),
      ),
      status,
    );
  }

  // -------------------------------------------------------------- queues

  renderQueues(queues) {
    const titleId = "queues-title";
    this.queueBox.replaceChildren(
      h("h2", { id: titleId }, t("queues.title")),
      h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, t("queues.queue")),
            h("th", { scope: "col" }, t("queues.waiting")),
            h("th", { scope: "col" }, t("queues.longest")),
          ),
        ),
        h(
          "tbody",
          {},
          queues.map((q) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, q.id),
              h("td", {}, fmtNumber(q.waiting)),
              h("td", {}, fmtDuration(q.longest_wait)),
            ),
          ),
        ),
      ),
    );
  }
}

function quote(text) {
  const short = text.length > 80 ? `${text.slice(0, 79)}…` : text;
  return h("q", { dir: "auto" }, short);
}
