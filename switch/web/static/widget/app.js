// The customer's widget on any web page: a launcher button and a chat panel in their own
// shadow root (the page's styles do not reach in, the widget's do not leak out).
// Chat both ways in real time (client.js), typing, delivery state, history on reload,
// "leave your number" with an SMS code, "call me back", "answer me by SMS", and "call
// us" (a WebRTC call from the page, with the chat still open).
//
// Everything a person reads comes from i18n.js; everything anybody wrote (customers,
// agents) is put in the page as text, never as HTML. Every control has a label.

import { Meter } from "../phone/meter.js";
import { BrowserPhone } from "../phone/phone.js";
import { WidgetClient } from "./client.js";
import { LANGUAGES, RTL, pickLanguage, translator } from "./i18n.js";

const LANG_KEY = "edge-widget.lang";
const OPEN_KEY = "edge-widget.open";
const TYPING_EVERY = 3000; // ms between two "typing" frames while the customer types
const TYPING_SHOWN = 6000; // ms an agent's "typing" shows unless renewed
const STATE_RANK = { pending: 0, failed: 0, sent: 1, delivered: 2, read: 3 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

function storage(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    localStorage.setItem(key, value);
  } catch {
    // storage refused (private mode, a sandboxed frame): the widget works without it
  }
  return null;
}

export class ChatWidget {
  constructor({ base, lang, open }) {
    this.base = base;
    this.lang = pickLanguage([lang, storage(LANG_KEY), ...navigator.languages]);
    this.t = translator(this.lang);
    this.client = new WidgetClient({ base, lang: this.lang });
    this.features = { call: false, verify: false, callback: false, sms: false };
    this.maxMessage = 2000;
    this.queue = "no_agents";
    this.conversation = { state: "idle", agent: null };
    this.verifiedPhone = null;
    this.afterVerify = null; // "callback" | "sms": asked before the number was proven
    this.items = new Map(); // message id (page or switch) -> list item
    this.typingSent = 0;
    this.typingTimer = null;
    this.phone = null;
    this.meter = new Meter();
    this.notice = null; // { key, values }
    this.build(open ?? storage(OPEN_KEY) === "1");
    this.wire();
  }

  // --------------------------------------------------------------------- the DOM

  build(open) {
    const host = el("div", { id: "edge-chat-widget" });
    this.host = host;
    const shadow = host.attachShadow({ mode: "open" });
    const css = el("link", { rel: "stylesheet", href: new URL("static/widget/widget.css", this.base) });
    const $ = {};
    this.$ = $;
    $.launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false",
      "aria-controls": "edge-panel", onclick: () => this.setOpen(true) });
    $.title = el("h2", { id: "edge-title" });
    $.lang = el("select", { class: "lang" });
    for (const [code, name] of Object.entries(LANGUAGES)) $.lang.add(new Option(name, code));
    $.close = el("button", { class: "close", type: "button", onclick: () => this.setOpen(false) }, "×");
    $.status = el("p", { class: "status", role: "status" });
    $.log = el("ol", { class: "log", role: "log" });
    $.typing = el("p", { class: "typing", "aria-live": "polite" });
    $.notice = el("p", { class: "notice", role: "alert" });
    $.callState = el("p", { class: "call-state", role: "status" });
    $.mute = el("button", { type: "button", "aria-pressed": "false", onclick: () => this.toggleMute() });
    $.hangup = el("button", { type: "button", class: "stop", onclick: () => this.phone?.hangup() });
    $.audio = el("audio", { autoplay: true });
    $.call = el("section", { class: "call", hidden: true }, $.callState,
      el("div", { class: "row" }, $.mute, $.hangup), $.audio);
    $.phoneLabel = el("label", { for: "edge-phone" });
    $.phoneInput = el("input", { id: "edge-phone", type: "tel", autocomplete: "tel", inputmode: "tel" });
    $.sendCode = el("button", { type: "submit" });
    $.codeLabel = el("label", { for: "edge-code" });
    $.codeInput = el("input", { id: "edge-code", autocomplete: "one-time-code", inputmode: "numeric" });
    $.verify = el("button", { type: "button", onclick: () => this.enterCode() });
    $.codeRow = el("div", { class: "field", hidden: true }, $.codeLabel,
      el("div", { class: "row" }, $.codeInput, $.verify));
    $.numberState = el("p", { class: "number-state", role: "status" });
    $.numberForm = el("form", { class: "number", hidden: true, onsubmit: (e) => this.leavePhone(e) },
      el("div", { class: "field" }, $.phoneLabel, el("div", { class: "row" }, $.phoneInput, $.sendCode)),
      $.codeRow, $.numberState);
    $.callUs = el("button", { type: "button", onclick: () => this.startCall() });
    $.callMeBack = el("button", { type: "button", onclick: () => this.ask("callback") });
    $.bySms = el("button", { type: "button", onclick: () => this.ask("sms") });
    $.leaveNumber = el("button", { type: "button", "aria-expanded": "false",
      onclick: () => this.showNumberForm(this.$.numberForm.hidden) });
    $.actions = el("div", { class: "actions", role: "group" }, $.callUs, $.callMeBack, $.bySms, $.leaveNumber);
    $.text = el("textarea", { id: "edge-text", rows: "2" });
    $.send = el("button", { type: "submit", class: "send" });
    $.composer = el("form", { class: "composer", onsubmit: (e) => this.sendText(e) }, $.text, $.send);
    $.panel = el("section", { class: "panel", id: "edge-panel", role: "dialog",
      "aria-labelledby": "edge-title", hidden: !open },
      el("header", {}, $.title, $.lang, $.close),
      $.status, $.log, $.typing, $.notice, $.call, $.numberForm, $.actions, $.composer);
    $.root = el("div", { class: "widget" }, $.launcher, $.panel);
    shadow.append(css, $.root);
    document.body.append(host);
    this.setOpen(open, false);
  }

  applyLanguage() {
    const { $ } = this;
    this.t = translator(this.lang);
    $.root.lang = this.lang;
    $.root.dir = RTL.has(this.lang) ? "rtl" : "ltr";
    $.lang.value = this.lang;
    $.launcher.textContent = this.t("launcher");
    $.title.textContent = this.t("title");
    $.lang.setAttribute("aria-label", this.t("language"));
    $.close.setAttribute("aria-label", this.t("close"));
    $.log.setAttribute("aria-label", this.t("messages"));
    $.call.setAttribute("aria-label", this.t("call"));
    $.mute.textContent = this.t("mute");
    $.hangup.textContent = this.t("hangup");
    $.numberForm.setAttribute("aria-label", this.t("number_form"));
    $.phoneLabel.textContent = this.t("phone");
    $.sendCode.textContent = this.t("send_code");
    $.codeLabel.textContent = this.t("code");
    $.verify.textContent = this.t("verify");
    $.actions.setAttribute("aria-label", this.t("actions"));
    $.callUs.textContent = this.t("call_us");
    $.callMeBack.textContent = this.t("call_me_back");
    $.bySms.textContent = this.t("answer_by_sms");
    $.leaveNumber.textContent = this.t("leave_number");
    $.text.setAttribute("aria-label", this.t("message"));
    $.send.textContent = this.t("send");
    for (const item of this.items.values()) this.renderMeta(item);
    this.showStatus();
    this.showNotice(this.notice);
  }

  setOpen(open, remember = true) {
    const { $ } = this;
    $.panel.hidden = !open;
    $.launcher.hidden = open;
    $.launcher.setAttribute("aria-expanded", String(open));
    if (remember) storage(OPEN_KEY, open ? "1" : "0");
    if (open) {
      $.text.focus();
      this.markRead();
    }
  }

  // ------------------------------------------------------------------- the wiring

  wire() {
    const { $, client } = this;
    $.lang.addEventListener("change", () => {
      this.lang = $.lang.value;
      storage(LANG_KEY, this.lang);
      client.setLanguage(this.lang);
      this.applyLanguage();
    });
    $.text.addEventListener("input", () => this.typed());
    $.text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $.composer.requestSubmit();
      }
    });
    document.addEventListener("visibilitychange", () => this.markRead());
    const on = (name, fn) => client.addEventListener(name, (e) => fn(e.detail));
    on("session", (s) => this.applySettings(s));
    on("welcome", (w) => this.welcome(w));
    on("online", () => this.showStatus());
    on("offline", () => this.showStatus());
    on("refused", () => this.showNotice({ key: "err_unavailable" }));
    on("sent", (f) => this.sent(f));
    on("message", (f) => this.message(f.message));
    on("error", (f) => this.failed(f));
    on("typing", (f) => this.agentTyping(f));
    on("conversation", (f) => this.conversationChanged(f));
    on("queue", (f) => { this.queue = f.state; this.showStatus(); this.showActions(); });
    on("verify", (f) => this.verified(f));
    on("callback", (f) => this.showNotice({ key: "callback_done",
      values: { phone: this.verifiedPhone ?? "", position: f.position ?? 1 } }));
    on("sms", (f) => this.showNotice({ key: "sms_done", values: { phone: f.phone } }));
    on("call", (f) => this.call(f.credential));
    this.applyLanguage();
    this.showActions();
    client.start();
  }

  applySettings(settings) {
    this.features = settings.features ?? this.features;
    this.maxMessage = settings.max_message ?? this.maxMessage;
    this.$.text.maxLength = this.maxMessage;
    const colours = settings.colours ?? {};
    const style = this.$.root.style;
    if (colours.primary) style.setProperty("--primary", colours.primary);
    if (colours.on_primary) style.setProperty("--on-primary", colours.on_primary);
    if (colours.customer) style.setProperty("--mine", colours.customer);
    this.showActions();
  }

  welcome(frame) {
    this.queue = frame.queue;
    this.conversation = frame.conversation ?? this.conversation;
    this.verifiedPhone = frame.verified ?? null;
    this.features = frame.features ?? this.features;
    this.maxMessage = frame.max_message ?? this.maxMessage;
    const pending = [...this.$.log.querySelectorAll("li.pending, li.failed")];
    this.items.clear();
    this.$.log.replaceChildren();
    for (const message of frame.history ?? []) this.append(message);
    for (const item of pending) {
      this.$.log.append(item);
      this.items.set(item.dataset.id, item);
    }
    this.showStatus();
    this.showActions();
    this.acknowledge();
  }

  // --------------------------------------------------------------------- messages

  sendText(event) {
    event.preventDefault();
    const text = this.$.text.value;
    if (!text.trim()) return;
    if (text.length > this.maxMessage) {
      this.showNotice({ key: "err_too_long", values: { max: this.maxMessage } });
      return;
    }
    const id = this.client.send(text);
    this.append({ id, dir: "in", text, at: new Date().toISOString(), status: "pending" });
    this.$.text.value = "";
    this.typingSent = 0;
    this.client.typing(false);
    this.showNotice(null);
  }

  append(message) {
    const item = el("li", { class: `msg ${message.dir === "in" ? "mine" : "theirs"}`,
      "data-id": message.id });
    item.message = { ...message };
    const who = el("p", { class: "who" });
    const text = el("p", { class: "text", text: message.text });
    const meta = el("p", { class: "meta" });
    item.append(who, text, meta);
    this.renderMeta(item);
    this.$.log.append(item);
    this.items.set(message.id, item);
    item.scrollIntoView?.({ block: "end" });
    return item;
  }

  renderMeta(item) {
    const { message } = item;
    const [who, , meta] = item.children;
    if (message.dir === "in") {
      who.textContent = this.t("you");
    } else {
      who.textContent = message.agent ?? this.t(message.auto ? "automatic" : "agent");
    }
    const time = new Date(message.at);
    const clock = Number.isNaN(time.getTime()) ? "" : time.toLocaleTimeString(this.lang,
      { hour: "2-digit", minute: "2-digit" });
    const parts = [clock];
    if (message.dir === "in") parts.push(this.t(`state_${message.status}`));
    meta.textContent = parts.filter(Boolean).join(" · ");
    item.classList.toggle("pending", message.status === "pending");
    item.classList.toggle("failed", message.status === "failed");
    item.dataset.status = message.status;
  }

  setStatus(item, status) {
    if (!item || STATE_RANK[status] < STATE_RANK[item.message.status]) return;
    item.message.status = status;
    this.renderMeta(item);
  }

  sent(frame) {
    const item = this.items.get(frame.ref);
    const message = frame.message;
    if (!item) {
      if (!this.items.has(message.id)) this.append(message);
      return;
    }
    this.items.delete(frame.ref);
    item.dataset.id = message.id;
    item.message.id = message.id;
    item.message.at = message.at;
    this.items.set(message.id, item);
    this.setStatus(item, message.status);
    if (this.conversation.state === "assigned") this.setStatus(item, "delivered");
  }

  failed(frame) {
    const item = frame.ref ? this.items.get(frame.ref) : null;
    if (item) {
      item.message.status = "failed";
      this.renderMeta(item);
    }
    const key = `err_${frame.code}`;
    const known = this.t(key) !== key;
    this.showNotice({ key: known ? key : "err_other", values: { code: frame.code, max: this.maxMessage } });
  }

  message(message) {
    if (this.items.has(message.id)) return;
    this.append(message);
    if (message.dir === "out") {
      this.showTyping(null);
      if (!message.auto) {  // a person answered: they read what came before
        for (const item of this.items.values()) {
          if (item.message.dir === "in" && item.message.status !== "pending") this.setStatus(item, "read");
        }
      }
      this.acknowledge();
    }
  }

  /** Tell the switch which answers this page got, and which it showed. */
  acknowledge() {
    const unseen = [...this.items.values()].filter(
      (item) => item.message.dir === "out" && STATE_RANK[item.message.status] < STATE_RANK.read);
    const ids = unseen.map((item) => item.message.id);
    if (!ids.length) return;
    if (this.visible()) {
      this.client.seen(ids, "read");
      for (const item of unseen) item.message.status = "read";
    } else {
      this.client.seen(ids.filter((id) => this.items.get(id).message.status === "sent"), "delivered");
      for (const item of unseen) item.message.status = "delivered";
    }
  }

  markRead() {
    if (this.visible()) this.acknowledge();
  }

  visible() {
    return !this.$.panel.hidden && document.visibilityState === "visible";
  }

  // ---------------------------------------------------------------------- typing

  typed() {
    const now = Date.now();
    if (now - this.typingSent > TYPING_EVERY) {
      this.typingSent = now;
      this.client.typing(true);
    }
  }

  agentTyping(frame) {
    this.showTyping(frame.on ? (frame.agent ?? this.t("agent")) : null);
  }

  showTyping(agent) {
    clearTimeout(this.typingTimer);
    this.$.typing.textContent = agent ? this.t("typing", { agent }) : "";
    if (agent) this.typingTimer = setTimeout(() => this.showTyping(null), TYPING_SHOWN);
  }

  // ---------------------------------------------------------------- state shown

  conversationChanged(frame) {
    this.conversation = { state: frame.state, agent: frame.agent };
    if (frame.state === "assigned") {
      for (const item of this.items.values()) {
        if (item.message.dir === "in" && item.message.status === "sent") this.setStatus(item, "delivered");
      }
    }
    this.showStatus();
  }

  showStatus() {
    const { state, agent } = this.conversation;
    let text;
    if (!this.client.online) text = this.t(this.client.settings ? "offline" : "connecting");
    else if (state === "assigned") text = this.t("joined", { agent: agent ?? this.t("agent") });
    else if (state === "queued" && this.queue !== "no_agents" && this.queue !== "closed") text = this.t("waiting");
    else text = this.t(`status_${this.queue}`);
    if (this.queue === "no_agents" || this.queue === "closed") {
      if (this.features.callback || this.features.sms) text = `${text} ${this.t("offer")}`;
    }
    this.$.status.textContent = text;
  }

  showNotice(notice) {
    this.notice = notice;
    this.$.notice.textContent = notice ? this.t(notice.key, notice.values ?? {}) : "";
  }

  showActions() {
    const { $, features } = this;
    const nobody = this.queue === "no_agents" || this.queue === "closed";
    $.callUs.hidden = !features.call || this.phone !== null;
    $.callMeBack.hidden = !features.callback;
    $.bySms.hidden = !features.sms || !nobody;
    $.leaveNumber.hidden = !features.verify || this.verifiedPhone !== null;
    $.actions.hidden = [$.callUs, $.callMeBack, $.bySms, $.leaveNumber].every((b) => b.hidden);
  }

  // ------------------------------------------------------------ leave your number

  showNumberForm(show) {
    this.$.numberForm.hidden = !show;
    this.$.leaveNumber.setAttribute("aria-expanded", String(show));
    if (show) this.$.phoneInput.focus();
  }

  leavePhone(event) {
    event.preventDefault();
    const number = this.$.phoneInput.value.trim();
    if (number) this.client.leavePhone(number);
  }

  enterCode() {
    const code = this.$.codeInput.value.trim();
    if (code) this.client.enterCode(code);
  }

  ask(what) {
    if (!this.verifiedPhone) {
      this.afterVerify = what;
      this.showNumberForm(true);
      return;
    }
    if (what === "callback") this.client.callback();
    else this.client.answerBySms();
  }

  verified(frame) {
    const { $ } = this;
    const until = frame.until ? new Date(frame.until * 1000).toLocaleTimeString(this.lang,
      { hour: "2-digit", minute: "2-digit" }) : "";
    const values = { phone: frame.phone ?? "", left: frame.left ?? 0, time: until };
    if (frame.state === "code_sent") {
      $.codeRow.hidden = false;
      $.codeInput.value = "";
      $.codeInput.focus();
      $.numberState.textContent = this.t("code_sent", values);
    } else if (frame.state === "verified") {
      this.verifiedPhone = frame.phone;
      $.numberState.textContent = "";
      this.showNumberForm(false);
      $.codeRow.hidden = true;
      this.showNotice({ key: "verified", values });
      this.showActions();
      const next = this.afterVerify;
      this.afterVerify = null;
      if (next) this.ask(next);
    } else {
      $.numberState.textContent = this.t(frame.reason ?? "err_other", values);
      if (frame.reason === "expired" || frame.reason === "locked") $.codeInput.value = "";
    }
  }

  // -------------------------------------------------------------------- call us

  startCall() {
    if (this.phone) return;
    this.$.call.hidden = false;
    this.$.callState.textContent = this.t("call_connecting");
    this.client.call();
  }

  call(credential) {
    const { $ } = this;
    const phone = new BrowserPhone({ credential, audio: $.audio, register: false });
    this.phone = phone;
    window.edgeWidget.phone = phone;
    const on = (name, fn) => phone.addEventListener(name, (e) => fn(e.detail));
    on("ready", () => { if (!phone.inCall && !phone.called) { phone.called = true; phone.call(credential.call); } });
    on("ringing", () => { $.callState.textContent = this.t("call_ringing"); });
    on("connected", () => {
      $.callState.textContent = this.t("call_connected");
      this.meter.listen($.audio.srcObject);
    });
    on("muted", (d) => $.mute.setAttribute("aria-pressed", String(d.on)));
    on("ended", (d) => {
      const failed = !phone.wasConnected;
      $.callState.textContent = failed
        ? this.t("call_failed", { cause: d.cause ?? "?" })
        : this.t("call_ended");
      this.meter.stop();
      phone.stop();
      this.phone = null;
      $.mute.setAttribute("aria-pressed", "false");
      this.showActions();
    });
    on("connected", () => { phone.wasConnected = true; });
    phone.start();
    this.showActions();
  }

  toggleMute() {
    if (this.phone) this.phone.mute(!this.phone.isMuted);
  }
}

export function startWidget(options) {
  if (window.edgeWidget?.widget) return window.edgeWidget.widget;
  window.edgeWidget = { widget: null, phone: null };
  const widget = new ChatWidget(options);
  window.edgeWidget = {
    widget,
    phone: null,
    level: () => widget.meter.level(),
    peakFrequency: () => widget.meter.peakFrequency(),
  };
  return widget;
}
