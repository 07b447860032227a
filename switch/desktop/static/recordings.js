// The console's recordings (operators): recorded calls found by contact (a number or a
// contact id), agent and dates (GET /recordings), played in the page, and how long
// the switch keeps them.

import { api, ApiError } from "./api.js";
import { field, h, uid } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtNumber, t } from "./i18n.js";
import { loadPhones, phone } from "./phones.js";

function retentionText(answer) {
  if (!answer.record_calls) return t("recordings.off");
  if (answer.retention_days) return t("recordings.kept_days", { days: fmtNumber(answer.retention_days) });
  return t("recordings.kept_forever");
}

function seconds(record) {
  if (!record.answered_at || !record.ended_at) return "";
  return fmtDuration((Date.parse(record.ended_at) - Date.parse(record.answered_at)) / 1000);
}

export class RecordingsPanel {
  constructor() {
    this.contact = h("input", { autocomplete: "off", dir: "ltr" });
    this.agent = h("input", { autocomplete: "off", dir: "ltr" });
    this.since = h("input", { type: "date" });
    this.until = h("input", { type: "date" });
    this.retention = h("p", { class: "retention" });
    this.results = h("div", { class: "recordings-found", "aria-live": "polite" });
    const titleId = uid("h");
    this.element = h(
      "section",
      { class: "card recordings", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("recordings.title")),
      this.retention,
      h(
        "form",
        { role: "search", "aria-label": t("recordings.search"), onsubmit: (e) => this.search(e) },
        h(
          "div",
          { class: "filters" },
          h("div", { class: "row" }, field(t("recordings.contact"), this.contact)),
          h("div", { class: "row" }, field(t("recordings.agent"), this.agent)),
          h("div", { class: "row" }, field(t("recordings.since"), this.since)),
          h("div", { class: "row" }, field(t("recordings.until"), this.until)),
        ),
        h("button", { type: "submit" }, t("recordings.submit")),
      ),
      this.results,
    );
  }

  async search(event) {
    event?.preventDefault();
    const query = new URLSearchParams();
    for (const [name, input] of [
      ["contact", this.contact],
      ["agent", this.agent],
      ["since", this.since],
      ["until", this.until],
    ]) {
      if (input.value.trim()) query.set(name, input.value.trim());
    }
    let answer;
    try {
      answer = await api("GET", `/recordings?${query}`);
    } catch (err) {
      const text = err instanceof ApiError && err.status === 503 ? t("recordings.no_sip") : err.message;
      this.results.replaceChildren(h("p", { role: "alert", class: "problem" }, text));
      return;
    }
    this.retention.textContent = retentionText(answer);
    const found = answer.recordings;
    await loadPhones(found.flatMap((r) => [r.from, r.to]).filter((n) => n && n.startsWith("+")));
    if (!found.length) {
      this.results.replaceChildren(h("p", { class: "muted" }, t("recordings.none")));
      return;
    }
    this.results.replaceChildren(
      h(
        "table",
        {},
        h("caption", {}, t("recordings.found", { count: fmtNumber(found.length) })),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["recordings.when", "recordings.caller", "recordings.agent", "recordings.length", "recordings.listen"].map(
              (k) => h("th", { scope: "col" }, t(k)),
            ),
          ),
        ),
        h(
          "tbody",
          {},
          found.map((r) => {
            const who = r.direction === "in" ? r.from : r.to;
            const when = fmtDateTime(r.started_at);
            return h(
              "tr",
              { "data-call": r.id },
              h("td", {}, h("time", { datetime: r.started_at }, when)),
              h("td", { dir: "ltr" }, phone(who) || who || ""),
              h("td", {}, r.agent || ""),
              h("td", {}, seconds(r)),
              h(
                "td",
                {},
                r.available
                  ? h("audio", {
                      controls: true,
                      preload: "none",
                      src: `/api/v1/calls/${encodeURIComponent(r.id)}/recording`,
                      "aria-label": t("recordings.play", { who: phone(who) || who || "", when }),
                    })
                  : h("span", { class: "muted" }, t("recordings.deleted")),
              ),
            );
          }),
        ),
      ),
    );
  }
}
