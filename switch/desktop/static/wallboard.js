// Today's figures on the wallboard (GET /stats?by=hour): the day's KPIs, and two small
// charts of the day drawn as inline SVG (no library): offers per hour (answered and
// abandoned inside), and the service level per hour. Refreshed when the queues move
// (at most every few seconds) and once a minute. Each queue's own day (service level,
// abandoned: GET /stats?queue=) for the queue table, at most every 15 s.

import { api } from "./api.js";
import { h } from "./dom.js";
import { fmtDuration, fmtNumber, fmtTime, t } from "./i18n.js";

// the SVG namespace, as the HTML parser gives it to an <svg> element
const SVG = (() => {
  const holder = document.createElement("div");
  holder.innerHTML = "<svg></svg>";
  return holder.firstChild.namespaceURI;
})();
const MIN_GAP = 3000; // ms between two loads pushed by the queues
const QUEUES_GAP = 15000; // ms between two looks at each queue's day
const WIDTH = 480;
const HEIGHT = 120;
const PAD = 18;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) if (child) el.append(child);
  return el;
}

const pct = (x) => (x === null || x === undefined ? "–" : fmtNumber(x, { style: "percent", maximumFractionDigits: 0 }));
const secs = (x) => (x === null || x === undefined ? "–" : fmtDuration(x));
const score = (x) => (x === null || x === undefined ? "–" : fmtNumber(x, { maximumFractionDigits: 1 }));

// Bars per hour: `series` = [{ key, values, className }] drawn over each other (the
// first is the tallest: offered, then answered and abandoned side by side inside).
export function barChart(hours, series, label) {
  const top = Math.max(1, ...series.flatMap((s) => s.values));
  const step = (WIDTH - PAD) / Math.max(hours.length, 1);
  const bars = [];
  hours.forEach((hour, i) => {
    series.forEach((s, j) => {
      const value = s.values[i] ?? 0;
      const height = ((HEIGHT - PAD) * value) / top;
      const width = j === 0 ? step * 0.8 : step * 0.4;
      const x = PAD + i * step + (j === 0 ? 0 : (j - 1) * step * 0.4);
      bars.push(svg("rect", { x, y: HEIGHT - PAD - height, width, height, class: s.className }));
    });
  });
  return chartFrame(hours, bars, label, top, (v) => fmtNumber(v));
}

// A line of a ratio (0..1) per hour; hours without a value leave a gap.
export function lineChart(hours, values, label) {
  const step = (WIDTH - PAD) / Math.max(hours.length, 1);
  const points = [];
  let path = "";
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const x = PAD + i * step + step * 0.4;
    const y = HEIGHT - PAD - (HEIGHT - PAD) * v;
    path += `${path && values[i - 1] !== null && values[i - 1] !== undefined ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
    points.push(svg("circle", { cx: x, cy: y, r: 2.5, class: "point" }));
  });
  return chartFrame(hours, [svg("path", { d: path.trim() || "M0,0", class: "line" }), ...points], label, 1, pct);
}

function chartFrame(hours, marks, label, top, fmt) {
  const ticks = [];
  hours.forEach((hour, i) => {
    if (i % 3 !== 0) return;
    const step = (WIDTH - PAD) / Math.max(hours.length, 1);
    ticks.push(svg("text", { x: PAD + i * step, y: HEIGHT - 4, class: "tick" }, document.createTextNode(fmtTime(hour.since))));
  });
  return svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label, class: "chart" },
    svg("title", {}, document.createTextNode(label)),
    svg("line", { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD, class: "axis" }),
    svg("text", { x: 0, y: 10, class: "tick" }, document.createTextNode(fmt(top))),
    ...marks,
    ...ticks,
  );
}

// "09:00 3, 10:00 5, …": what a chart shows, for people who do not see it.
function describe(hours, values, fmt) {
  return hours
    .map((hour, i) => [hour, values[i]])
    .filter(([, v]) => v !== null && v !== undefined && v !== 0)
    .map(([hour, v]) => `${fmtTime(hour.since)} ${fmt(v)}`)
    .join(", ");
}

// The 24 hours of the day (the chart always shows a whole day): the hours begun with
// their figures, the rest empty.
function dayOf(stats) {
  const begun = stats.hours || [];
  const start = Date.parse(stats.since);
  return Array.from({ length: Math.max(24, begun.length) }, (_, i) => {
    return begun[i] ?? { since: new Date(start + i * 3600_000).toISOString() };
  });
}

export { pct };

export class TodayFigures {
  constructor() {
    this.element = h("div", { class: "kpis", hidden: true });
    this.last = 0;
    this.timer = null;
    this.queueIds = [];
    this.byQueue = new Map(); // queue id -> today's stats of that queue
    this.queuesLast = 0;
    this.queuesTimer = null;
    this.onQueues = null; // told when byQueue changed
  }

  // The queues of the wallboard's table: their own figures are looked at too.
  setQueues(ids) {
    const changed = ids.join("|") !== this.queueIds.join("|");
    this.queueIds = ids;
    if (changed) this.queuesLast = 0;
  }

  // The queues moved: load again, at most every MIN_GAP ms.
  poke() {
    const wait = this.last + MIN_GAP - Date.now();
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.load();
    }, Math.max(0, wait));
  }

  stop() {
    clearTimeout(this.timer);
    clearTimeout(this.queuesTimer);
  }

  async load() {
    this.last = Date.now();
    let stats;
    try {
      stats = await api("GET", "/stats?by=hour");
    } catch {
      this.element.hidden = true; // no statistics on this switch: no panel
      return;
    }
    this.render(stats);
    const wait = this.queuesLast + QUEUES_GAP - Date.now();
    if (wait <= 0) await this.loadQueues();
    else this.queuesTimer ??= setTimeout(() => this.loadQueues(), wait); // not left behind
  }

  async loadQueues() {
    clearTimeout(this.queuesTimer);
    this.queuesTimer = null;
    this.queuesLast = Date.now();
    const ids = this.queueIds;
    const got = await Promise.all(
      ids.map((id) => api("GET", `/stats?queue=${encodeURIComponent(id)}`).catch(() => null)),
    );
    this.byQueue = new Map(ids.map((id, i) => [id, got[i]]).filter(([, day]) => day));
    this.onQueues?.();
  }

  render(stats) {
    const items = [
      ["kpi.offered", fmtNumber(stats.offered ?? 0)],
      ["kpi.answered", fmtNumber(stats.answered ?? 0)],
      ["kpi.abandoned", fmtNumber(stats.abandoned ?? 0)],
      ["kpi.service_level", pct(stats.service_level)],
      ["kpi.asa", secs(stats.asa)],
      ["kpi.aht", secs(stats.aht)],
      ["kpi.abandon_rate", pct(stats.abandon_rate)],
      ["kpi.fcr", pct(stats.fcr)],
      ["kpi.csat", score(stats.csat)],
    ];
    const hours = dayOf(stats);
    const offered = hours.map((x) => x.offered ?? 0);
    const answered = hours.map((x) => x.answered ?? 0);
    const abandoned = hours.map((x) => x.abandoned ?? 0);
    const level = hours.map((x) => x.service_level);
    const n = (v) => fmtNumber(v);
    const offersLabel = t("chart.offers", {
      offered: describe(hours, offered, n) || "0",
      answered: describe(hours, answered, n) || "0",
      abandoned: describe(hours, abandoned, n) || "0",
    });
    const levelLabel = t("chart.service_level", { values: describe(hours, level, pct) || "–" });
    this.element.replaceChildren(
      h("h3", {}, t("kpi.title")),
      h("dl", {}, items.map(([k, v]) => h("div", { "data-kpi": k.slice(4) }, h("dt", {}, t(k)), h("dd", {}, v)))),
      h(
        "figure",
        { class: "day-chart offers-chart" },
        barChart(
          hours,
          [
            { values: offered, className: "offered" },
            { values: answered, className: "answered" },
            { values: abandoned, className: "abandoned" },
          ],
          offersLabel,
        ),
        h(
          "figcaption",
          {},
          t("chart.offers_title"),
          " ",
          h("span", { class: "key offered" }, t("kpi.offered")),
          h("span", { class: "key answered" }, t("kpi.answered")),
          h("span", { class: "key abandoned" }, t("kpi.abandoned")),
        ),
      ),
      h(
        "figure",
        { class: "day-chart level-chart" },
        lineChart(hours, level, levelLabel),
        h("figcaption", {}, t("chart.service_level_title")),
      ),
    );
    this.element.hidden = false;
  }
}
