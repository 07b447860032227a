// A workspace: one contact the agent works on, as a tab. The contact's journey across
// channels (SMS, web chat, calls with their recordings, notes, queues), the reply box
// (by SMS with its part count and alphabet, or into the open web chat with the customer
// shown the agent typing), click-to-call, wrap-up notes, closing the conversation.

import { api, apiPage } from "./api.js";
import { attributesLine, detailsForm } from "./contacts.js";
import { field, h, uid } from "./dom.js";
import { fmtDateTime, fmtNumber, t, tOr } from "./i18n.js";
import { loadPhones, phone } from "./phones.js";
import { smsInfo } from "./sms.js";

const JOURNEY_PAGE = 100;
const TYPING_EVERY = 3000; // ms between two "typing" signals to a chat customer
const DISPOSITIONS = ["resolved", "follow_up", "callback", "escalated", "no_answer", "wrong_number", "other"];

// One line of a journey, in words: "12 Mar 2026, 09:14 · SMS received · text".
export function describeEvent(event) {
  // a web chat's messages are no SMS: "Chat message received"
  const chat = event.channel === "chat" && /^message_(in|out)$/.test(event.kind);
  const kind = chat ? event.kind.replace("message_", "chat_") : event.kind;
  const parts = [
    h("time", { datetime: event.at }, fmtDateTime(event.at)),
    " · ",
    h("span", { class: "kind" }, tOr(`kind.${kind}`, event.kind)),
  ];
  if (event.channel && event.channel !== "note") {
    parts.push(" · ", tOr(`channel.${event.channel}`, event.channel));
  }
  if (event.agent) parts.push(" · ", t("event.agent", { agent: event.agent }));
  if (event.kind === "call_ended" && event.cause) {
    parts.push(" · ", tOr(`cause.${event.cause}`, event.cause));
  }
  if (event.kind === "csat" && event.score !== undefined) {
    parts.push(" · ", t("event.score", { score: fmtNumber(event.score) }));
  }
  if (event.kind === "wrap_up" && event.disposition) {
    parts.push(" · ", h("strong", {}, tOr(`disposition.${event.disposition}`, event.disposition)));
  }
  if ((event.kind === "queued" || event.kind === "dequeued") && event.via) {
    parts.push(" · ", event.via);
  }
  return parts;
}

export class Workspace {
  constructor(desk, contactId) {
    this.desk = desk;
    this.contactId = contactId;
    this.contact = null;
    this.conversation = null;
    this.callId = null; // the contact's latest call with this agent: what a wrap-up is about
    this.seen = new Set();
    const tabId = uid("tab");
    const panelId = uid("panel");
    this.tab = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: tabId,
        "aria-controls": panelId,
        "aria-selected": "false",
        tabindex: "-1",
        onclick: () => desk.select(contactId),
        onkeydown: (event) => {
          const rtl = document.documentElement.dir === "rtl";
          const forward = rtl ? "ArrowLeft" : "ArrowRight";
          const back = rtl ? "ArrowRight" : "ArrowLeft";
          if (event.key === forward) desk.moveTab(contactId, 1);
          if (event.key === back) desk.moveTab(contactId, -1);
        },
      },
      t("work.loading"),
    );
    this.panel = h("div", { role: "tabpanel", id: panelId, "aria-labelledby": tabId, hidden: true });
    this.journey = h("ol", { class: "journey" });
    this.older = null; // the path of the journey's page before the oldest shown
    this.more = h("button", { type: "button", class: "older", hidden: true, onclick: () => this.loadOlder() }, t("work.older"));
  }

  show(selected) {
    this.tab.setAttribute("aria-selected", String(selected));
    this.tab.tabIndex = selected ? 0 : -1;
    this.panel.hidden = !selected;
  }

  get numbers() {
    return (this.contact?.identities || [])
      .filter((i) => i.startsWith("phone:"))
      .map((i) => i.slice("phone:".length));
  }

  get title() {
    const named = this.contact?.name || phone(this.numbers[0]);
    if (named) return named;
    // a web visitor with neither name nor number: said so, with a short id to tell apart
    const chat = this.conversation?.channel === "chat";
    return chat ? `${t("offer.visitor")} · ${this.contactId.slice(0, 6)}` : this.contactId;
  }

  async load() {
    this.contact = await api("GET", `/contacts/${encodeURIComponent(this.contactId)}`);
    const { data: events, next } = await apiPage(
      `/contacts/${encodeURIComponent(this.contactId)}/journey?limit=${JOURNEY_PAGE}`,
    );
    await loadPhones([...this.numbers, ...events.map((e) => e.number).filter(Boolean)]);
    this.tab.textContent = this.title;
    this.seen.clear();
    this.journey.replaceChildren();
    for (const event of events) this.addEvent(event);
    this.setOlder(next);
    this.render();
  }

  // The page before the oldest event shown, added at the end (the journey is newest
  // first); the button stays where it was, for the next page.
  async loadOlder() {
    if (!this.older) return;
    this.more.disabled = true;
    try {
      const { data: events, next } = await apiPage(this.older);
      await loadPhones(events.map((e) => e.number).filter(Boolean));
      for (const event of events.slice().reverse()) this.addEvent(event, true);
      this.setOlder(next);
    } catch (err) {
      this.more.textContent = t("work.older_failed", { why: err.message });
    } finally {
      this.more.disabled = false;
    }
  }

  setOlder(next) {
    this.older = next;
    this.more.hidden = !next;
    this.more.textContent = t("work.older");
  }

  // The channel a reply goes on: the open web chat's, or SMS.
  get channel() {
    return this.conversation?.channel === "chat" ? "chat" : "sms";
  }

  setConversation(conversation) {
    this.conversation = conversation;
    if (conversation) this.tab.textContent = this.title; // a visitor's tab says so
    this.reply?.update();
  }

  addEvent(event, older = false) {
    const key = `${event.at}|${event.kind}|${event.text ?? ""}|${event.call_id ?? ""}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const item = h("li", { class: `event ${event.kind}` }, h("p", {}, describeEvent(event)));
    if (event.text && event.kind !== "ivr_choice") {
      item.append(h("p", { class: "text", dir: "auto" }, event.text));
    } else if (event.kind === "ivr_choice") {
      item.append(h("p", { class: "text" }, t("event.pressed", { digits: event.text })));
    }
    if (event.kind === "call_ended" && event.recording && event.call_id) {
      item.append(
        h("audio", {
          controls: true,
          preload: "none",
          src: `/api/v1/calls/${encodeURIComponent(event.call_id)}/recording`,
          "aria-label": t("event.recording", { time: fmtDateTime(event.at) }),
        }),
      );
    }
    if (older) this.journey.append(item);
    else this.journey.prepend(item); // newest first
  }

  render() {
    const c = this.contact;
    const titleId = uid("h");
    const merged = c.merged_from && c.merged_from.length;
    this.panel.replaceChildren(
      h("h3", { id: titleId, class: "contact-name" }, this.title),
      h(
        "div",
        { class: "numbers" },
        this.numbers.map((n) => this.desk.callButton(n)),
        merged ? h("p", { class: "muted" }, t("work.merged", { count: fmtNumber(c.merged_from.length) })) : null,
      ),
      attributesLine(c) ?? "", // none: nothing shown
      ...this.replyBox(),
      this.notesBox(),
      h(
        "details",
        { class: "edit-contact" },
        h("summary", {}, t("contact.edit")),
        detailsForm(c, (saved) => {
          this.contact = saved;
          this.tab.textContent = this.title;
          this.render();
        }),
      ),
      h("h4", {}, t("work.journey")),
      this.journey,
      this.more,
    );
    this.journey.setAttribute("aria-label", t("work.journey_of", { who: this.title }));
  }

  // One form for both channels: update() turns it to the conversation's channel (label,
  // button, the SMS part count shown for SMS only), or says there is nothing to answer.
  replyBox() {
    const text = h("textarea", { rows: "3", dir: "auto", maxlength: "1530" });
    const meta = h("p", { class: "sms-meta", "aria-live": "polite" });
    const status = h("p", { role: "status", class: "muted reply-status" }); // outlives the form
    const noPhone = h("p", { class: "muted" }, t("reply.no_phone"));
    const label = h("span");
    const submit = h("button", { type: "submit", class: "primary" });
    let typedAt = 0;
    const countParts = () => {
      const info = smsInfo(text.value);
      meta.textContent = t("reply.meta", {
        parts: fmtNumber(info.parts),
        encoding: t(`reply.${info.encoding}`),
        left: fmtNumber(info.left),
      });
      meta.dataset.parts = String(info.parts);
      meta.dataset.encoding = info.encoding;
    };
    const typing = () => {
      const now = Date.now();
      if (this.channel !== "chat" || !text.value.trim() || now - typedAt < TYPING_EVERY) return;
      typedAt = now;
      const path = `/contacts/${encodeURIComponent(this.contactId)}/typing`;
      api("POST", path, { on: true, agent: this.desk.me }).catch(() => {}); // a hint only
    };
    text.addEventListener("input", () => {
      countParts();
      typing();
    });
    countParts();
    const send = async (event) => {
      event.preventDefault();
      if (!text.value.trim()) return;
      status.textContent = t("reply.sending");
      try {
        await api("POST", `/contacts/${encodeURIComponent(this.contactId)}/messages`, {
          text: text.value,
          channel: this.channel,
          agent: this.desk.me,
        });
        text.value = "";
        typedAt = 0;
        countParts();
        status.textContent = t("reply.sent");
      } catch (err) {
        status.textContent = t("reply.failed", { why: err.message });
      }
    };
    const closeButton = h(
      "button",
      {
        type: "button",
        onclick: async () => {
          try {
            await api("POST", `/contacts/${encodeURIComponent(this.contactId)}/conversation/close`, {
              channel: this.conversation?.channel || "sms",
            });
            this.setConversation(null);
            status.textContent = t("reply.closed");
          } catch (err) {
            status.textContent = err.message;
          }
        },
      },
      t("reply.close"),
    );
    const form = h(
      "form",
      { class: "reply", onsubmit: send },
      h("div", { class: "row" }, field(label, text)),
      meta,
      h("div", { class: "actions" }, submit, closeButton),
    );
    const update = () => {
      const chat = this.channel === "chat";
      form.dataset.channel = this.channel;
      form.hidden = !chat && !this.numbers.length;
      noPhone.hidden = !form.hidden;
      label.textContent = chat ? t("reply.label_chat") : t("reply.label");
      submit.textContent = chat ? t("reply.send_chat") : t("reply.send");
      meta.hidden = chat;
      closeButton.hidden = !this.conversation;
    };
    this.reply = { update };
    update();
    return [form, noPhone, status];
  }

  // Wrap-up: notes alone ("Save note"), or the disposition of the work with its notes
  // ("Save wrap-up": a wrap_up event in the journey, with the call it was about).
  notesBox() {
    const text = h("textarea", { rows: "2", dir: "auto", maxlength: "10000" });
    const disposition = h(
      "select",
      {},
      DISPOSITIONS.map((d) => h("option", { value: d }, t(`disposition.${d}`))),
    );
    const status = h("p", { role: "status", class: "muted" });
    const path = (what) => `/contacts/${encodeURIComponent(this.contactId)}/${what}`;
    const save = async (work) => {
      try {
        await work();
        text.value = "";
      } catch (err) {
        status.textContent = err.message;
      }
    };
    const titleId = uid("h");
    return h(
      "form",
      {
        class: "notes",
        "aria-labelledby": titleId,
        onsubmit: (event) => {
          event.preventDefault();
          if (!text.value.trim()) return;
          save(async () => {
            await api("POST", path("notes"), { text: text.value, author: this.desk.me });
            status.textContent = t("notes.saved");
          });
        },
      },
      h("h4", { id: titleId }, t("wrapup.title")),
      h("div", { class: "row" }, field(t("notes.label"), text)),
      h("div", { class: "row" }, field(t("wrapup.disposition"), disposition)),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit" }, t("notes.save")),
        h(
          "button",
          {
            type: "button",
            class: "primary",
            onclick: () =>
              save(async () => {
                const body = { disposition: disposition.value, text: text.value };
                if (this.callId) body.call_id = this.callId;
                await api("POST", path("wrapup"), body);
                status.textContent = t("wrapup.saved", {
                  disposition: t(`disposition.${disposition.value}`),
                });
              }),
          },
          t("wrapup.save"),
        ),
      ),
      status,
    );
  }
}
