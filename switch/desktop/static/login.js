// The sign-in form: user id and password, and the language of the page.

import { api, ApiError } from "./api.js";
import { field, h } from "./dom.js";
import { currentLanguage, LANGUAGES, setLanguage, t } from "./i18n.js";

export function loginView(onSignedIn) {
  const user = h("input", { name: "user", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const problem = h("p", { role: "alert", class: "problem" });
  const language = h(
    "select",
    { name: "language" },
    LANGUAGES.map((code) =>
      h("option", { value: code, selected: code === currentLanguage() }, t(`language.${code}`)),
    ),
  );
  const form = h(
    "form",
    {
      class: "login card",
      "aria-labelledby": "login-title",
      onsubmit: async (event) => {
        event.preventDefault();
        problem.textContent = "";
        try {
          const session = await api("POST", "/login", {
            user: user.value.trim(),
            password: password.value,
          });
          onSignedIn(session);
        } catch (err) {
          password.value = "";
          if (err instanceof ApiError && err.status === 429) {
            problem.textContent = t("login.too_many");
          } else if (err instanceof ApiError && err.status === 401) {
            problem.textContent = t("login.wrong");
          } else {
            problem.textContent = t("error.unreachable");
          }
          password.focus();
        }
      },
    },
    h("h1", { id: "login-title" }, t("login.title")),
    h("div", { class: "row" }, field(t("login.user"), user)),
    h("div", { class: "row" }, field(t("login.password"), password)),
    problem,
    h("button", { type: "submit", class: "primary" }, t("login.submit")),
    h("div", { class: "row" }, field(t("language"), language)),
  );
  language.addEventListener("change", async () => {
    localStorage.setItem("desk-language", language.value);
    await setLanguage(language.value);
    const fresh = loginView(onSignedIn);
    form.replaceWith(fresh);
    fresh.querySelector("select").focus();
  });
  return form;
}
