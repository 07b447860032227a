// The browser phone inside the agent's desk: it registers to the SIP edge over
// WebSocket as the signed-in agent with a short-lived credential the session asks for
// (POST /webrtc/credentials: never the SIP password), rings with the offer card,
// answers, hangs up, holds, mutes, sends DTMF and transfers the call (to an agent, a
// queue or a number, with a note): handed over when the target answers, at once, or
// after talking with the target while the customer waits on hold (consult: then hand
// over, or go back to the customer). A desk phone registered as the same agent rings
// too: the edge forks, the first to answer wins and the other stops ringing.
//
// JsSIP (vendored under /static, with the /phone page's wrapper) is loaded only here,
// once the agent is signed in: the sign-in page stays small.

import { api, ApiError, LiveOrder } from "./api.js";
import { field, h, uid } from "./dom.js";
import { t } from "./i18n.js";
import { loadPhones, phone as readable } from "./phones.js";

const PHONE_MODULE = "/static/phone/phone.js";
const METER_MODULE = "/static/phone/meter.js";
const RENEW_AT = 0.8; // of the credential's lifetime: fetch the next one then
const RETRY_MS = 15000; // a failed registration or credential: try again this often
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
const TARGETS = ["agent", "queue", "number"];
const MODES = ["attended", "consult", "blind"]; // a queue takes only "blind"

export class DeskPhone {
  constructor(agentId) {
    this.me = agentId;
    this.phone = null;
    this.meter = null;
    this.callId = null;
    this.peer = "";
    this.timers = { renew: null, retry: null, meter: null };
    this.stopped = false;
    this.transferCall = null; // the call whose transfer she started, until it is over
    this.pending = false; // that transfer rings or she consults: hers to finish
    this.order = new LiveOrder(); // a request's answer older than a live record is dropped
    this.element = this.build();
    this.setControls();
  }

  // ---------------------------------------------------------------- layout

  build() {
    const titleId = uid("h");
    this.status = h("p", { role: "status", class: "phone-status" }, t("phone.starting"));
    this.line = h("p", { class: "phone-line", "aria-live": "assertive" });
    this.audio = h("audio", { autoplay: true });
    this.buttons = {
      answer: h("button", { type: "button", class: "primary", onclick: () => this.phone?.answer() }, t("phone.answer")),
      hangup: h("button", { type: "button", class: "stop", onclick: () => this.phone?.hangup() }, t("phone.hangup")),
      mute: h("button", { type: "button", "aria-pressed": "false", onclick: () => this.phone?.mute(!this.phone.isMuted) }, t("phone.mute")),
      hold: h("button", { type: "button", "aria-pressed": "false", onclick: () => this.phone?.hold(!this.phone.isHeld) }, t("phone.hold")),
    };
    const keypadId = uid("h");
    this.keys = KEYS.map((key) => h("button", { type: "button", onclick: () => this.phone?.dtmf(key) }, key));
    // a keypad keeps the telephone layout (1 2 3 from the left) in every language
    const keypad = h("div", { class: "keypad", role: "group", "aria-labelledby": keypadId, dir: "ltr" }, this.keys);
    this.level = h("meter", { min: "0", max: "0.5", value: "0" });
    // the phone's own controls; the transfer works for a desk phone's call too
    this.controls = h(
      "div",
      { class: "phone-controls" },
      this.line,
      h("div", { class: "actions" }, Object.values(this.buttons)),
      h("h3", { id: keypadId }, t("phone.keypad")),
      keypad,
      h("div", { class: "row" }, field(t("phone.level"), this.level)),
    );
    return h(
      "section",
      { class: "card deskphone", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("phone.title")),
      this.status,
      this.controls,
      this.transferForm(),
      this.audio,
    );
  }

  transferForm() {
    this.kind = h("select", { onchange: () => this.setMode() }, TARGETS.map((k) => h("option", { value: k }, t(`transfer.to_${k}`))));
    this.mode = h("select", {}, MODES.map((m) => h("option", { value: m }, t(`transfer.mode_${m}`))));
    this.target = h("input", { autocomplete: "off", dir: "ltr", required: true });
    this.note = h("textarea", { rows: "2", maxlength: "2000", dir: "auto" });
    this.transferStatus = h("p", { role: "status", class: "transfer-status" });
    this.transferButton = h("button", { type: "submit" }, t("transfer.submit"));
    const titleId = uid("h");
    const form = h(
      "form",
      { class: "transfer", "aria-labelledby": titleId, onsubmit: (e) => this.transfer(e) },
      h("h3", { id: titleId }, t("transfer.title")),
      h("div", { class: "row" }, field(t("transfer.kind"), this.kind)),
      h("div", { class: "row" }, field(t("transfer.target"), this.target)),
      h("div", { class: "row" }, field(t("transfer.mode"), this.mode)),
      h("div", { class: "row" }, field(t("transfer.note"), this.note)),
      this.transferButton,
      this.transferStatus,
      this.consultBar(),
    );
    this.setMode();
    return form;
  }

  // While a transfer rings or the agent talks with its target: hand over, go back.
  consultBar() {
    this.consultLine = h("p", { class: "consult-line" });
    this.finish = {
      complete: h("button", { type: "button", class: "primary", onclick: () => this.finishTransfer("complete") }, t("transfer.complete")),
      cancel: h("button", { type: "button", onclick: () => this.finishTransfer("cancel") }, t("transfer.cancel")),
    };
    this.consult = h(
      "div",
      { class: "consult", role: "group", "aria-label": t("transfer.in_progress"), hidden: true },
      this.consultLine,
      h("div", { class: "actions" }, Object.values(this.finish)),
    );
    return this.consult;
  }

  setMode() {
    const queue = this.kind.value === "queue";
    if (queue) this.mode.value = "blind";
    this.mode.disabled = queue;
  }

  setControls() {
    const session = this.phone?.session ?? null;
    const ringingIn = !!session && session.direction === "incoming" && !session.isEstablished();
    const established = session?.isEstablished() ?? false;
    this.buttons.answer.disabled = !ringingIn;
    this.buttons.hangup.disabled = !session;
    this.buttons.mute.disabled = !established;
    this.buttons.hold.disabled = !established;
    for (const key of this.keys) key.disabled = !established;
    this.buttons.mute.setAttribute("aria-pressed", String(this.phone?.isMuted ?? false));
    this.buttons.hold.setAttribute("aria-pressed", String(this.phone?.isHeld ?? false));
    this.transferButton.disabled = !this.callId || !!this.pending;
  }

  // ------------------------------------------------------------ registering

  async start() {
    if (this.phone || this.starting) return; // a resync of the desk: keep the phone
    this.starting = true;
    try {
      await this.register();
    } finally {
      this.starting = false;
    }
  }

  async register() {
    this.stopped = false;
    let credential;
    try {
      credential = await this.credential();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 503 || err.status === 404)) {
        this.status.textContent = t("phone.off"); // no [webrtc], or no SIP account
        this.element.dataset.state = "off";
        this.controls.hidden = true;
        return;
      }
      this.status.textContent = t("phone.failed", { why: err.message });
      this.retry();
      return;
    }
    const [{ BrowserPhone }, { Meter }] = await Promise.all([import(PHONE_MODULE), import(METER_MODULE)]);
    if (this.stopped) return;
    this.meter ??= new Meter();
    const phone = new BrowserPhone({ credential, audio: this.audio });
    this.phone = phone;
    window.deskPhone = this; // the tests read the call's figures from here
    const on = (name, fn) =>
      phone.addEventListener(name, (e) => {
        if (this.phone !== phone) return;
        fn(e.detail);
        this.setControls();
      });
    on("registering", () => this.show("registering"));
    on("registered", () => this.show("registered"));
    on("unregistered", () => this.show("idle"));
    on("registration-failed", (d) => {
      this.status.textContent = t("phone.failed", { why: d.cause });
      this.element.dataset.state = "failed";
      this.retry();
    });
    on("incoming", (d) => this.ringing(d.from));
    on("calling", (d) => this.setLine("phone.calling", d.to));
    on("connected", () => {
      this.setLine("phone.connected", this.peer);
      this.listen();
    });
    on("held", (d) => this.setLine(d.on ? "phone.on_hold" : "phone.connected", this.peer));
    on("muted", () => {});
    on("ended", () => {
      this.line.textContent = t("phone.ended");
      this.unlisten();
    });
    phone.start();
    this.scheduleRenew(credential);
  }

  async credential() {
    return api("POST", "/webrtc/credentials", { agent: this.me });
  }

  scheduleRenew(credential) {
    clearTimeout(this.timers.renew);
    this.timers.renew = setTimeout(async () => {
      try {
        const next = await this.credential();
        this.phone?.renew(next);
        this.scheduleRenew(next);
      } catch (err) {
        this.status.textContent = t("phone.failed", { why: err.message });
        this.retry();
      }
    }, credential.ttl * RENEW_AT * 1000);
  }

  retry() {
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => {
      if (this.stopped || this.phone?.registered) return;
      this.phone?.stop();
      this.phone = null;
      this.start();
    }, RETRY_MS);
  }

  stop() {
    this.stopped = true;
    for (const timer of Object.values(this.timers)) {
      clearTimeout(timer);
      clearInterval(timer);
    }
    this.phone?.stop();
    this.phone = null;
    if (window.deskPhone === this) window.deskPhone = null;
  }

  show(state) {
    this.status.textContent = t(`phone.${state}`);
    this.element.dataset.state = state;
  }

  // ------------------------------------------------------------------ calls

  async ringing(from) {
    this.peer = from;
    this.setLine("phone.incoming", from);
    const number = /^\d{6,15}$/.test(from) ? `+${from}` : from;
    await loadPhones([number]);
    if (this.peer === from && this.phone?.session) {
      this.peer = readable(number) || from;
      this.setLine(this.phone.session.isEstablished() ? "phone.connected" : "phone.incoming", this.peer);
    }
  }

  setLine(key, peer) {
    this.peer = peer;
    this.line.textContent = t(key, { peer });
  }

  // The agent's current call (from the live `call` records): what a transfer moves. A
  // call she transferred keeps coming (the feed sends it to who transferred it) until
  // its transfer is over: its state shows here.
  setCall(record, live = true) {
    if (live) this.order.heard();
    if (record.agent === this.me && record.state !== "ended") this.callId = record.id;
    else if (record.id === this.callId) this.callId = null;
    if (record.id === this.transferCall) this.showTransfer(record);
    this.setControls();
  }

  async transfer(event) {
    event.preventDefault();
    if (!this.callId) return;
    const target = this.target.value.trim();
    const body = { [this.kind.value === "number" ? "to" : this.kind.value]: target };
    if (this.kind.value !== "queue") body.mode = this.mode.value;
    if (this.note.value.trim()) body.note = this.note.value.trim();
    this.transferStatus.textContent = t("transfer.sending");
    this.transferCall = this.callId;
    try {
      const record = await this.order.answer(() => api("POST", `/calls/${encodeURIComponent(this.callId)}/transfer`, body));
      this.note.value = "";
      if (record) this.setCall(record, false);
    } catch (err) {
      this.transferCall = null;
      this.transferStatus.textContent = t("transfer.failed", { why: err.message });
    }
  }

  async finishTransfer(how) {
    const callId = this.transferCall;
    if (!callId) return;
    for (const button of Object.values(this.finish)) button.disabled = true;
    try {
      const record = await this.order.answer(() => api("POST", `/calls/${encodeURIComponent(callId)}/transfer/${how}`));
      if (record) this.setCall(record, false);
    } catch (err) {
      this.transferStatus.textContent = t("transfer.failed", { why: err.message });
    } finally {
      for (const button of Object.values(this.finish)) button.disabled = false;
    }
  }

  // The transfer of the call she moves, in words; the bar while it is hers to finish.
  showTransfer(record) {
    const x = record.transfer;
    if (!x) return;
    const target = x.kind === "number" ? readable(x.to) || x.to : x.to;
    const open = x.state === "ringing" || x.state === "consulting";
    this.pending = open && x.mode !== "blind" && x.kind !== "queue";
    this.consult.hidden = !this.pending;
    this.finish.complete.hidden = x.state !== "consulting";
    this.finish.cancel.textContent = t(x.state === "consulting" ? "transfer.back" : "transfer.cancel");
    this.element.dataset.transfer = x.state;
    if (this.pending) {
      this.transferStatus.textContent = "";
      this.consultLine.textContent = t(x.state === "consulting" ? "transfer.consulting" : "transfer.ringing", { target });
      this.finish.complete.textContent = t("transfer.complete", { target });
      return;
    }
    this.transferCall = open ? this.transferCall : null;
    const said = {
      ringing: ["transfer.done", { target }], // blind: she has left the call already
      completed: ["transfer.done", { target }],
      failed: ["transfer.failed", { why: x.detail || t("transfer.no_answer") }],
      cancelled: ["transfer.cancelled", {}],
    }[x.state];
    if (said) this.transferStatus.textContent = t(...said);
  }

  // -------------------------------------------------------- incoming audio

  listen() {
    if (!this.meter?.listen(this.audio.srcObject)) return;
    clearInterval(this.timers.meter);
    this.timers.meter = setInterval(() => {
      this.level.value = this.meter.level();
    }, 100);
  }

  unlisten() {
    clearInterval(this.timers.meter);
    this.meter?.stop();
    this.level.value = 0;
  }

  stats() {
    return this.phone?.stats() ?? null;
  }

  peakFrequency() {
    return this.meter?.peakFrequency() ?? null;
  }
}
