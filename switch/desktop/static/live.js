// One WebSocket to /api/v1/ws for everything that changes. It reconnects by itself
// (1 s, 2 s, 4 s ... at most 15 s apart) and says so through onStatus("live" | "lost");
// a close with 4401 means the session ended.

const MAX_DELAY = 15000;

export class Live {
  constructor(handlers, onStatus) {
    this.handlers = handlers;
    this.onStatus = onStatus;
    this.watching = [];
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.onStatus("live");
      this.sendWatch();
    });
    ws.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      const handler = this.handlers[message.type];
      if (handler) handler(message.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.stopped || ws !== this.ws) return;
      if (event.code === 4401) {
        window.dispatchEvent(new CustomEvent("signed-out"));
        return;
      }
      this.onStatus("lost");
      const delay = Math.min(MAX_DELAY, 1000 * 2 ** this.attempt);
      this.attempt += 1;
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  // The contacts on screen: their journeys are pushed as they grow.
  watch(ids) {
    this.watching = [...new Set(ids)];
    this.sendWatch();
  }

  sendWatch() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ watch: this.watching }));
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }
}
