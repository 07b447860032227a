// The widget's connection to the switch: the visitor's session (an HttpOnly cookie the
// page never sees), then one WebSocket carrying the chat both ways. No DOM here.
//
//   const client = new WidgetClient({ base, lang });
//   client.addEventListener("welcome", (e) => ...);   // and every frame type the switch
//   await client.start();                             // sends: message, sent, error...
//   client.send("hello");                             // -> the message's page id
//
// A message is kept until the switch says "sent"; after a reconnect it is sent again
// with the same id, and the switch records it once. The socket reconnects by itself
// (1 s doubling to 30 s); a lost visitor cookie (close code 4401) gets a new session
// first. Extra events: online, offline [code], session [settings], refused [code].

const RETRY_FIRST = 1000;
const RETRY_MAX = 30000;
const NO_VISITOR = 4401;
const REFUSED = new Set([4403, 4409]); // another site, too many pages: do not insist

let counter = 0;

/** A page-unique id for a message (the switch derives its own from it). */
export function newId() {
  counter += 1;
  const random = Math.random().toString(36).slice(2, 8);
  return `c${Date.now().toString(36)}${counter.toString(36)}${random}`;
}

export class WidgetClient extends EventTarget {
  constructor({ base, lang }) {
    super();
    this.base = base;
    this.lang = lang;
    this.socket = null;
    this.pending = new Map(); // page id -> text, until the switch says "sent"
    this.retry = RETRY_FIRST;
    this.timer = null;
    this.stopped = false;
    this.settings = null;
  }

  get online() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Get (or renew) the visitor's session, then connect. */
  async start() {
    this.stopped = false;
    try {
      await this.#session();
    } catch (error) {
      this.#emit("offline", { code: 0, reason: String(error) });
      this.#later();
      return;
    }
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
  }

  /** Use another language (automatic messages, the SMS code): reconnect with it. */
  setLanguage(lang) {
    if (lang === this.lang) return;
    this.lang = lang;
    if (this.socket) this.socket.close(1000);
  }

  send(text) {
    const id = newId();
    this.pending.set(id, text);
    this.#frame({ type: "send", id, text });
    return id;
  }

  typing(on) { this.#frame({ type: "typing", on }); }
  seen(ids, status) { if (ids.length) this.#frame({ type: "seen", ids, status }); }
  leavePhone(number) { this.#frame({ type: "phone", number }); }
  enterCode(code) { this.#frame({ type: "code", code }); }
  callback() { this.#frame({ type: "callback" }); }
  answerBySms() { this.#frame({ type: "sms" }); }
  call() { this.#frame({ type: "call" }); }

  async #session() {
    const response = await fetch(new URL("widget/session", this.base), {
      method: "POST",
      credentials: "include",
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
    this.settings = body;
    this.#emit("session", body);
  }

  #connect() {
    const url = new URL("widget/ws", this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("lang", this.lang);
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retry = RETRY_FIRST;
      this.#emit("online");
    });
    socket.addEventListener("message", (event) => this.#receive(event.data));
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.#emit("offline", { code: event.code });
      if (this.stopped) return;
      if (REFUSED.has(event.code)) {
        this.#emit("refused", { code: event.code });
        return;
      }
      if (event.code === NO_VISITOR) {
        this.start();
        return;
      }
      if (event.code === 1000) this.#connect(); // (a language change)
      else this.#later();
    });
  }

  #later() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), this.retry);
    this.retry = Math.min(this.retry * 2, RETRY_MAX);
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    if (frame.type === "welcome") {
      this.#emit("welcome", frame);
      for (const [id, text] of this.pending) this.#frame({ type: "send", id, text });
      return;
    }
    if (frame.type === "sent" || (frame.type === "error" && frame.ref)) {
      this.pending.delete(frame.ref);
    }
    this.#emit(frame.type, frame);
  }

  #frame(frame) {
    if (this.online) this.socket.send(JSON.stringify(frame));
  }

  #emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
