// The agent's browser phone: JsSIP over the switch's WebSocket, as one small object the
// phone page (page.js) and, later, the agent desktop drive. No DOM here but the <audio>
// element the caller hands in for the far end's voice.
//
//   const phone = new BrowserPhone({ credential, audio });   // credential: POST
//   phone.addEventListener("incoming", (e) => ...);          //   /api/v1/webrtc/credentials
//   phone.start();  phone.answer();  phone.mute(true);  phone.hold(true);
//   phone.dtmf("5");  phone.hangup();  phone.call("+85512345678");  phone.stop();
//
// Events (CustomEvent, details in brackets): ready (the WebSocket is up), registering,
// registered, unregistered, registration-failed [cause], incoming [from], calling [to],
// ringing, connected [peer], ended [cause, by: "local" | "remote"], muted [on], held [on],
// dtmf [digit].
//
// A customer's widget uses it too, with `register: false` (a guest credential may only
// call the widget number): `start()`, then `call(credential.call)` once `ready`.
// DTMF goes in the media (RFC 4733), which rtpengine passes to the media worker.

import JsSIP from "../vendor/jssip-3.13.8.min.js";

const REGISTER_EXPIRES = 300; // seconds; the edge accepts 60..3600

/** The WebSocket URL to use from this page: wss on an https page, ws otherwise. */
export function chooseServer(servers, pageProtocol = globalThis.location?.protocol) {
  const secure = servers.filter((url) => url.startsWith("wss:"));
  const plain = servers.filter((url) => url.startsWith("ws:"));
  if (pageProtocol === "https:") return secure[0] ?? null;
  return plain[0] ?? secure[0] ?? null;
}

/** The user part of a SIP URI or name-addr ("Alice" <sip:1001@host> -> 1001). */
export function userOf(uri) {
  const match = /sips?:([^@;>]+)@/.exec(String(uri));
  return match ? decodeURIComponent(match[1]) : String(uri);
}

export class BrowserPhone extends EventTarget {
  constructor({ credential, audio, iceServers = [], register = true }) {
    super();
    this.credential = credential;
    this.register = register;
    this.audio = audio;
    this.iceServers = iceServers;
    this.ua = null;
    this.session = null;
    this.isMuted = false;
    this.isHeld = false;
  }

  get registered() {
    return this.ua?.isRegistered() ?? false;
  }

  get inCall() {
    return this.session !== null;
  }

  /** Connect and register with the current credential. */
  start() {
    const server = chooseServer(this.credential.ws_servers);
    if (!server) throw new Error("the switch offers no WebSocket server this page can use");
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(server)],
      uri: this.credential.uri,
      authorization_user: this.credential.authorization_user,
      password: this.credential.password,
      realm: this.credential.realm,
      register: this.register,
      register_expires: REGISTER_EXPIRES,
      session_timers: false,
      user_agent: "edge-switch phone",
    });
    ua.on("connected", () => this.#emit("ready"));
    ua.on("registered", () => this.#emit("registered"));
    ua.on("unregistered", () => this.#emit("unregistered"));
    ua.on("registrationFailed", (e) => this.#emit("registration-failed", { cause: e.cause }));
    ua.on("newRTCSession", (e) => this.#session(e.session, e.originator));
    this.ua = ua;
    if (this.register) this.#emit("registering");
    ua.start();
  }

  /** Unregister and disconnect (a call in progress is hung up). */
  stop() {
    this.hangup();
    this.ua?.stop();
    this.ua = null;
  }

  /** Use a new credential (the old one is about to expire): re-register with it now,
   * or once the current call is over. */
  renew(credential) {
    this.credential = credential;
    if (this.inCall) {
      this.pendingRenew = true;
      return;
    }
    this.ua?.stop();
    this.start();
  }

  call(target) {
    if (this.session || !this.ua) return;
    const host = new URL(this.credential.uri.replace(/^sips?:/, "http://")).host;
    // what people write in a number: keep "+" and the digits, drop spaces and separators
    const number = target.includes("@") ? target : target.replace(/[\s().\-/]/g, "");
    const uri = number.includes("@") ? number : `sip:${number}@${host}`;
    this.ua.call(uri, this.#options());
    this.#emit("calling", { to: target });
  }

  answer() {
    if (this.session && this.session.direction === "incoming" && !this.session.isEstablished()) {
      this.session.answer(this.#options());
    }
  }

  hangup() {
    if (this.session && !this.session.isEnded()) this.session.terminate();
  }

  mute(on) {
    if (!this.session) return;
    if (on) this.session.mute({ audio: true });
    else this.session.unmute({ audio: true });
  }

  hold(on) {
    if (!this.session || !this.session.isEstablished()) return;
    if (on) this.session.hold();
    else this.session.unhold();
  }

  dtmf(digit) {
    if (this.session?.isEstablished()) {
      this.session.sendDTMF(digit, { transportType: "RFC2833", duration: 160 });
      this.#emit("dtmf", { digit });
    }
  }

  /** Receive-side figures of the current call, from the peer connection's stats:
   * { packetsReceived, audioLevel (0..1), totalAudioEnergy, codec }. */
  async stats() {
    const pc = this.session?.connection;
    if (!pc) return null;
    const report = await pc.getStats();
    const out = { packetsReceived: 0, audioLevel: 0, totalAudioEnergy: 0, codec: null };
    const codecs = new Map();
    report.forEach((s) => {
      if (s.type === "codec") codecs.set(s.id, s.mimeType);
    });
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.packetsReceived = s.packetsReceived ?? 0;
        out.audioLevel = s.audioLevel ?? 0;
        out.totalAudioEnergy = s.totalAudioEnergy ?? 0;
        out.codec = codecs.get(s.codecId) ?? null;
      }
    });
    return out;
  }

  #options() {
    return {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: this.iceServers },
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    };
  }

  #session(session, originator) {
    if (this.session) {
      // one call at a time: a second incoming call is refused as busy
      if (originator === "remote") session.terminate({ status_code: 486 });
      return;
    }
    this.session = session;
    this.isMuted = false;
    this.isHeld = false;
    const attach = (pc) => {
      pc.addEventListener("track", (e) => {
        if (this.audio) this.audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      });
    };
    if (session.connection) attach(session.connection);
    else session.on("peerconnection", (e) => attach(e.peerconnection));
    const peer = userOf(session.remote_identity.uri);
    if (originator === "remote") this.#emit("incoming", { from: peer });
    session.on("progress", () => this.#emit("ringing"));
    session.on("accepted", () => this.#emit("connected", { peer }));
    session.on("muted", () => {
      this.isMuted = true;
      this.#emit("muted", { on: true });
    });
    session.on("unmuted", () => {
      this.isMuted = false;
      this.#emit("muted", { on: false });
    });
    session.on("hold", () => {
      this.isHeld = true;
      this.#emit("held", { on: true });
    });
    session.on("unhold", () => {
      this.isHeld = false;
      this.#emit("held", { on: false });
    });
    const done = (e) => {
      if (this.session !== session) return;
      this.session = null;
      if (this.audio) this.audio.srcObject = null;
      this.#emit("ended", { cause: e.cause, by: e.originator === "remote" ? "remote" : "local" });
      if (this.pendingRenew) {
        this.pendingRenew = false;
        this.renew(this.credential);
      }
    };
    session.on("ended", done);
    session.on("failed", done);
  }

  #emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
