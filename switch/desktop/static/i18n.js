// Message catalogues (i18n/<lang>.json) and the language's ways of writing numbers,
// dates and durations. English fills any key a catalogue lacks.

export const LANGUAGES = ["en", "km", "th", "fa"];
const LOCALES = { en: "en-GB", km: "km-KH", th: "th-TH", fa: "fa-IR" };
const RTL = new Set(["fa"]);

let language = "en";
let messages = {};
let english = {};

async function catalogue(code) {
  const res = await fetch(`/desktop/i18n/${code}.json`, { credentials: "same-origin" });
  if (!res.ok) throw new Error(`no catalogue for ${code}`);
  return res.json();
}

export async function setLanguage(code) {
  const wanted = LANGUAGES.includes(code) ? code : "en";
  if (!english.app_title) english = await catalogue("en");
  messages = wanted === "en" ? english : await catalogue(wanted);
  language = wanted;
  document.documentElement.lang = wanted;
  document.documentElement.dir = RTL.has(wanted) ? "rtl" : "ltr";
  document.title = t("app_title");
}

export function currentLanguage() {
  return language;
}

// The text of `key`, with {name} replaced by vars.name.
export function t(key, vars = {}) {
  const text = messages[key] ?? english[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// t() as a list of strings and nodes: a value may be an element (a name in <bdi>, so a
// Latin name does not scramble a Persian sentence).
export function tParts(key, vars = {}) {
  const text = messages[key] ?? english[key] ?? key;
  return text.split(/(\{\w+\})/).map((piece) => {
    const name = piece.match(/^\{(\w+)\}$/);
    return name && name[1] in vars ? vars[name[1]] : piece;
  });
}

// t() for a key that may not exist (a state or kind the switch added later).
export function tOr(key, fallback) {
  return key in messages || key in english ? t(key) : fallback;
}

function locale() {
  return LOCALES[language] ?? "en-GB";
}

export function fmtNumber(n, options = {}) {
  return new Intl.NumberFormat(locale(), options).format(n);
}

export function fmtTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit" }).format(
    new Date(iso),
  );
}

export function fmtDateTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(iso),
  );
}

// 75 -> "01:15", 3725 -> "1:02:05", in the language's digits.
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n) => fmtNumber(n, { minimumIntegerDigits: 2, useGrouping: false });
  const hours = Math.floor(s / 3600);
  const rest = `${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return hours ? `${fmtNumber(hours)}:${rest}` : rest;
}
