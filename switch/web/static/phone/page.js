// The phone page (/phone): sign in with an API token and an agent id, get a short-lived
// SIP credential from the switch, register the browser phone (phone.js), and drive it
// with labelled buttons. Text comes from i18n.js; ?lang=km|th|fa|en picks the language.

import { Meter } from "./meter.js";
import { BrowserPhone } from "./phone.js";
import { LANGUAGES, RTL, pickLanguage, translator } from "./i18n.js";

const RENEW_AT = 0.8; // of the credential's lifetime: fetch the next one then

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let lang = pickLanguage([params.get("lang") ?? localStorage.getItem("phone.lang") ?? "", ...navigator.languages]);
let t = translator(lang);
let phone = null;
let peer = "";
let status = { key: "status_idle", values: {} };
let line = { key: "", values: {} };
let renewTimer = null;

function applyLanguage() {
  t = translator(lang);
  document.documentElement.lang = lang;
  document.documentElement.dir = RTL.has(lang) ? "rtl" : "ltr";
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
  $("lang").value = lang;
  showStatus(status.key, status.values);
  showLine(line.key, line.values);
}

function showStatus(key, values = {}) {
  status = { key, values };
  $("status").textContent = t(key, values);
}

function showLine(key, values = {}) {
  line = { key, values };
  $("line").textContent = key ? t(key, values) : "";
}

function setControls() {
  const registered = phone?.registered ?? false;
  const session = phone?.session ?? null;
  const ringingIn = session && session.direction === "incoming" && !session.isEstablished();
  const established = session?.isEstablished() ?? false;
  $("register").disabled = registered;
  $("unregister").disabled = !phone;
  $("dial").disabled = !registered || !!session;
  $("answer").disabled = !ringingIn;
  $("hangup").disabled = !session;
  for (const id of ["mute", "hold"]) $(id).disabled = !established;
  for (const key of document.querySelectorAll("#keypad button")) key.disabled = !established;
  $("mute").setAttribute("aria-pressed", String(phone?.isMuted ?? false));
  $("hold").setAttribute("aria-pressed", String(phone?.isHeld ?? false));
}

async function fetchCredential() {
  const response = await fetch("/api/v1/webrtc/credentials", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${$("token").value.trim()}` },
    body: JSON.stringify({ agent: $("agent").value.trim() }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  return body;
}

function scheduleRenew(credential) {
  clearTimeout(renewTimer);
  renewTimer = setTimeout(async () => {
    try {
      phone?.renew(await fetchCredential());
      scheduleRenew(phone.credential);
    } catch (error) {
      showStatus("status_credential", { error: error.message });
    }
  }, credential.ttl * RENEW_AT * 1000);
}

async function register(event) {
  event.preventDefault();
  let credential;
  try {
    credential = await fetchCredential();
  } catch (error) {
    showStatus("status_credential", { error: error.message });
    return;
  }
  phone?.stop();
  phone = new BrowserPhone({ credential, audio: $("remote") });
  window.edgePhone.phone = phone;
  const on = (name, fn) => phone.addEventListener(name, (e) => { fn(e.detail); setControls(); });
  on("registering", () => showStatus("status_registering"));
  on("registered", () => showStatus("status_registered"));
  on("unregistered", () => showStatus("status_idle"));
  on("registration-failed", (d) => showStatus("status_failed", { cause: d.cause }));
  on("incoming", (d) => { peer = d.from; showLine("incoming", { peer }); });
  on("calling", (d) => { peer = d.to; showLine("calling", { peer }); });
  on("ringing", () => { if (phone.session?.direction === "outgoing") showLine("ringing"); });
  on("connected", () => { showLine("connected", { peer }); listen(); });
  on("held", (d) => showLine(d.on ? "on_hold" : "connected", { peer }));
  on("muted", () => {});
  on("ended", () => { showLine("ended"); stopListening(); });
  phone.start();
  scheduleRenew(credential);
  setControls();
}

// ------------------------------------------------------------- incoming audio level

const meter = new Meter();
let meterTimer = null;
const level = () => meter.level();
const peakFrequency = () => meter.peakFrequency();

function listen() {
  if (!meter.listen($("remote").srcObject)) return;
  clearInterval(meterTimer);
  meterTimer = setInterval(() => { $("level").value = level(); }, 100);
}

function stopListening() {
  clearInterval(meterTimer);
  meter.stop();
  $("level").value = 0;
}

// --------------------------------------------------------------------------- wiring

window.edgePhone = { phone: null, level, peakFrequency };

function init() {
  const select = $("lang");
  for (const [code, name] of Object.entries(LANGUAGES)) select.add(new Option(name, code));
  select.addEventListener("change", () => {
    lang = select.value;
    localStorage.setItem("phone.lang", lang);
    applyLanguage();
  });
  $("signin").addEventListener("submit", register);
  $("unregister").addEventListener("click", () => {
    clearTimeout(renewTimer);
    phone?.stop();
    phone = null;
    showStatus("status_idle");
    setControls();
  });
  $("dial").addEventListener("click", () => {
    const number = $("number").value.trim();
    if (number) phone?.call(number);
    setControls();
  });
  $("answer").addEventListener("click", () => phone?.answer());
  $("hangup").addEventListener("click", () => phone?.hangup());
  $("mute").addEventListener("click", () => phone?.mute(!phone.isMuted));
  $("hold").addEventListener("click", () => phone?.hold(!phone.isHeld));
  for (const key of document.querySelectorAll("#keypad button")) {
    key.addEventListener("click", () => phone?.dtmf(key.textContent.trim()));
  }
  // leaving the page: hang up and unregister (best effort: the socket may close first,
  // and then the edge drops the registration with the connection)
  addEventListener("pagehide", () => phone?.stop());
  applyLanguage();
  setControls();
}

init();
