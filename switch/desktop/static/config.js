// The config file, checked (GET /config/check): valid or not, every error by its key
// path, what a reload would change now and what would wait for a restart, and the last
// reload (applied or refused, by whom, how). "Reload now" applies it
// (POST /config/reload); a reload from elsewhere (SIGHUP, the CLI, the fleet) shows as
// it lands in the audit trail.

import { api, ApiError } from "./api.js";
import { h, uid } from "./dom.js";
import { fmtDateTime, fmtNumber, t, tOr } from "./i18n.js";

function problems(caption, errors, captionClass = null) {
  return h(
    "table",
    { class: "config-errors" },
    h("caption", { class: captionClass }, caption),
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, t("config.key")), h("th", { scope: "col" }, t("config.problem"))),
    ),
    h(
      "tbody",
      {},
      errors.map((e) =>
        h("tr", { "data-key": e.key }, h("th", { scope: "row" }, h("code", { dir: "ltr" }, e.key)), h("td", { dir: "ltr" }, e.message)),
      ),
    ),
  );
}

function changes(title, items, kind) {
  if (!items.length) return [];
  return [h("h3", {}, title), h("ul", { class: `config-changes ${kind}`, dir: "ltr" }, items.map((c) => h("li", {}, h("code", {}, c))))];
}

export class ConfigPanel {
  constructor() {
    this.body = h("div", { class: "config-result", role: "status", "aria-live": "polite" });
    this.last = h("div", { class: "config-last" });
    this.checkButton = h("button", { type: "button", onclick: () => this.load() }, t("config.check"));
    this.reloadButton = h("button", { type: "button", class: "primary", disabled: true, onclick: () => this.reload() }, t("config.reload"));
    const titleId = uid("h");
    this.element = h(
      "section",
      { class: "card config", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("config.title")),
      this.body,
      h("div", { class: "actions" }, this.checkButton, this.reloadButton),
      this.last,
    );
  }

  async load() {
    let check;
    try {
      check = await api("GET", "/config/check");
    } catch (err) {
      const text = err instanceof ApiError && err.status === 503 ? t("config.demo") : t("health.failed", { why: err.message });
      this.body.replaceChildren(h("p", { class: "muted" }, text));
      this.reloadButton.disabled = true;
      this.element.dataset.state = "unknown";
      return;
    }
    this.render(check);
  }

  render(check) {
    this.element.dataset.state = check.valid ? "valid" : "invalid";
    const file = h("code", { dir: "ltr" }, check.config);
    const when = t("config.checked_at", { when: fmtDateTime(check.checked_at) });
    if (!check.valid) {
      this.body.replaceChildren(
        h("p", { class: "problem" }, t("config.invalid", { count: fmtNumber(check.errors.length) }), " ", file),
        problems(t("config.errors_caption"), check.errors),
        h("p", { class: "muted" }, when),
      );
    } else {
      const pending = check.changes.length + check.needs_restart.length;
      this.body.replaceChildren(
        h("p", { class: "ok" }, t("config.valid"), " ", file),
        h(
          "p",
          {},
          pending
            ? t("config.pending", { now: fmtNumber(check.changes.length), later: fmtNumber(check.needs_restart.length) })
            : t("config.same"),
        ),
        ...changes(t("config.would_apply"), check.changes, "apply"),
        ...changes(t("config.would_wait"), check.needs_restart, "restart"),
        h("p", { class: "muted" }, when),
      );
    }
    this.reloadButton.disabled = !check.valid || !(check.changes.length + check.needs_restart.length);
    this.renderLast(check.last_reload);
  }

  renderLast(last) {
    if (!last) {
      this.last.replaceChildren(h("p", { class: "muted" }, t("config.no_reload")));
      return;
    }
    const by =
      last.via === "signal" ? t("config.by_signal") : t("config.by", { who: last.who, via: tOr(`config.via_${last.via}`, last.via) });
    const line = t(last.reloaded ? "config.last_applied" : "config.last_refused", {
      when: fmtDateTime(last.at),
      by,
      count: fmtNumber(last.reloaded ? last.applied.length : last.errors.length),
    });
    this.last.replaceChildren(
      h("h3", {}, t("config.last_title")),
      h("p", { class: last.reloaded ? "" : "problem" }, line),
      ...(last.reloaded
        ? [...changes(t("config.applied"), last.applied, "apply"), ...changes(t("config.would_wait"), last.needs_restart, "restart")]
        : [h("details", {}, h("summary", {}, t("config.refused_caption")), problems(t("config.refused_caption"), last.errors, "visually-hidden"))]),
    );
  }

  async reload() {
    this.reloadButton.disabled = true;
    try {
      await api("POST", "/config/reload");
    } catch (err) {
      // refused: the errors are in the check that follows; anything else is said here
      if (!(err instanceof ApiError && err.status === 422)) {
        this.body.replaceChildren(h("p", { class: "problem" }, t("health.failed", { why: err.message })));
        return;
      }
    }
    await this.load();
  }

  // An audit entry pushed live: a reload from anywhere refreshes the card.
  heard(entry) {
    if (entry.action === "config.reload") this.load();
  }
}
