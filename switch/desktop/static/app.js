// The desktop's shell: who is signed in decides the view (an agent's desk, or the
// console of operators and technicians); the header has the language and sign-out; a
// status line says when live updates are lost.

import { AgentDesk } from "./agent.js";
import { api, setCsrf } from "./api.js";
import { ConsoleView } from "./console.js";
import { field, h } from "./dom.js";
import { LANGUAGES, setLanguage, t, tParts } from "./i18n.js";
import { Live } from "./live.js";
import { loginView } from "./login.js";

const root = document.getElementById("app");
let view = null;
let live = null;

function stop() {
  if (live) live.stop();
  if (view && view.destroy) view.destroy();
  live = null;
  view = null;
}

async function showLogin() {
  stop();
  setCsrf(null);
  const saved = localStorage.getItem("desk-language");
  const browser = (navigator.language || "en").slice(0, 2);
  await setLanguage(saved || (LANGUAGES.includes(browser) ? browser : "en"));
  const form = loginView((session) => start(session));
  root.replaceChildren(h("main", { id: "main" }, form));
  form.querySelector("input").focus();
}

function header(session) {
  const language = h(
    "select",
    {},
    LANGUAGES.map((code) =>
      h("option", { value: code, selected: code === session.language }, t(`language.${code}`)),
    ),
  );
  language.addEventListener("change", async () => {
    const updated = await api("POST", "/session/language", { language: language.value });
    localStorage.setItem("desk-language", updated.language);
    await start(updated);
  });
  const signOut = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          await api("POST", "/logout");
        } finally {
          showLogin();
        }
      },
    },
    t("sign_out"),
  );
  return h(
    "header",
    { class: "top" },
    h("p", { class: "brand" }, t("app_title")),
    h(
      "p",
      { class: "who" },
      tParts("signed_in_as", {
        name: h("bdi", {}, session.name),
        role: h("bdi", {}, t(`role.${session.role}`)),
      }),
    ),
    h("div", { class: "tools" }, field(t("language"), language), signOut),
  );
}

async function start(session) {
  stop();
  setCsrf(session.csrf);
  await setLanguage(session.language);
  const status = h("p", { id: "live-status", role: "status", class: "live-status" });
  view = session.role === "agent" ? new AgentDesk(session) : new ConsoleView(session);
  live = new Live(view.handlers(), (state) => {
    status.textContent = state === "lost" ? t("live.lost") : "";
    status.classList.toggle("lost", state === "lost");
  });
  view.live = live;
  root.replaceChildren(header(session), status, h("main", { id: "main" }, view.element));
  live.start();
  if (view.start) await view.start();
}

window.addEventListener("signed-out", () => showLogin());

async function boot() {
  let session;
  try {
    session = await api("GET", "/session");
  } catch {
    await showLogin();
    return;
  }
  if (!session.user) {
    await showLogin();
    return;
  }
  await start(session);
}

boot();
