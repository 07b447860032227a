// Contacts as people look after them: the search (a number or a piece of one, a name,
// any text said: GET /contacts?q=), the details editor (name and attributes: PATCH
// /contacts/{id}) and, for operators, linking another contact's identities into this
// one and undoing a link (POST /contacts/{id}/merge, /unmerge).

import { api, ApiError, apiPage } from "./api.js";
import { field, h, uid } from "./dom.js";
import { t } from "./i18n.js";
import { loadPhones, phone } from "./phones.js";

export function numbersOf(contact) {
  return (contact.identities || [])
    .filter((i) => i.startsWith("phone:"))
    .map((i) => i.slice("phone:".length));
}

export function contactTitle(contact) {
  return contact.name || phone(numbersOf(contact)[0]) || contact.id;
}

// "plan: gold · city: Kampot", or nothing.
export function attributesLine(contact) {
  const pairs = Object.entries(contact.attributes || {});
  if (!pairs.length) return null;
  return h(
    "p",
    { class: "attributes-line" },
    pairs.map(([k, v], i) => [i ? " · " : "", h("bdi", {}, k), ": ", h("bdi", {}, v)]),
  );
}

// The search card: `result(contact)` draws one contact found (with its actions);
// `nothing(e164 | null)` what to show when nobody was found.
export function searchCard({ result, nothing }) {
  const input = h("input", { type: "search", autocomplete: "off", dir: "auto", required: true, minlength: "2" });
  const results = h("div", { class: "results", "aria-live": "polite" });
  const titleId = uid("h");
  const form = h(
    "form",
    {
      role: "search",
      "aria-labelledby": titleId,
      onsubmit: async (event) => {
        event.preventDefault();
        results.replaceChildren();
        const text = input.value.trim();
        if (text.length < 2) {
          results.append(h("p", { role: "alert", class: "problem" }, t("search.too_short")));
          return;
        }
        let found;
        try {
          found = await api("GET", `/contacts?q=${encodeURIComponent(text)}`);
        } catch (err) {
          results.append(h("p", { role: "alert", class: "problem" }, err.message));
          return;
        }
        await loadPhones(found.flatMap((c) => numbersOf(c)));
        if (!found.length) {
          let e164 = null;
          if (/^[+\d][\d\s().\-/]*$/.test(text)) {
            const forms = await api("GET", `/numbers?n=${encodeURIComponent(text)}`).catch(() => []);
            if (forms[0]?.valid) e164 = forms[0].e164;
          }
          if (e164) await loadPhones([e164]);
          results.append(...[nothing(e164)].flat());
          return;
        }
        results.append(h("p", { class: "muted" }, t("search.found", { count: found.length })));
        for (const contact of found) results.append(result(contact));
      },
    },
    h("h2", { id: titleId }, t("search.title")),
    h("div", { class: "row" }, field(t("search.text"), input)),
    h("button", { type: "submit" }, t("search.submit")),
  );
  return h("section", { class: "card search" }, form, results);
}

// Name and attributes of a contact; onSaved(contact) after a change.
export function detailsForm(contact, onSaved) {
  const name = h("input", { autocomplete: "off", dir: "auto", maxlength: "200", value: contact.name || "" });
  const rows = h("div", { class: "attributes" });
  const status = h("p", { role: "status", class: "muted" });
  const addRow = (key = "", value = "") => {
    const k = h("input", { autocomplete: "off", dir: "auto", maxlength: "40", value: key, class: "attr-key" });
    const v = h("input", { autocomplete: "off", dir: "auto", maxlength: "500", value, class: "attr-value" });
    const row = h(
      "div",
      { class: "attribute" },
      field(t("contact.attribute"), k),
      field(t("contact.value"), v),
      h("button", { type: "button", onclick: () => row.remove() }, t("contact.remove_attribute")),
    );
    rows.append(row);
    return k;
  };
  for (const [key, value] of Object.entries(contact.attributes || {})) addRow(key, value);
  const titleId = uid("h");
  return h(
    "form",
    {
      class: "details",
      "aria-labelledby": titleId,
      onsubmit: async (event) => {
        event.preventDefault();
        const attributes = {};
        for (const row of rows.querySelectorAll(".attribute")) {
          const key = row.querySelector(".attr-key").value.trim();
          if (key) attributes[key] = row.querySelector(".attr-value").value.trim();
        }
        try {
          const saved = await api("PATCH", `/contacts/${encodeURIComponent(contact.id)}`, {
            name: name.value.trim() || null,
            attributes,
          });
          status.textContent = t("contact.saved");
          onSaved(saved);
        } catch (err) {
          status.textContent = t("contact.save_failed", { why: err.message });
        }
      },
    },
    h("h4", { id: titleId }, t("contact.details")),
    h("div", { class: "row" }, field(t("contact.name"), name)),
    rows,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => addRow().focus() }, t("contact.add_attribute")),
      h("button", { type: "submit", class: "primary" }, t("contact.save")),
    ),
    status,
  );
}

// Linking: another contact (found by its number) joins this one; each link can be undone.
export function linksForm(contact, onChanged) {
  const number = h("input", { type: "tel", autocomplete: "off", dir: "ltr", required: true });
  const status = h("p", { role: "status", class: "muted" });
  const path = (what) => `/contacts/${encodeURIComponent(contact.id)}/${what}`;
  const titleId = uid("h");
  const linked = (contact.merged_from || []).map((other) =>
    h(
      "li",
      {},
      h("span", { dir: "ltr" }, other),
      " ",
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            try {
              onChanged(await api("POST", path("unmerge"), { other }));
            } catch (err) {
              status.textContent = t("contact.link_failed", { why: err.message });
            }
          },
        },
        t("contact.unlink", { other }),
      ),
    ),
  );
  return h(
    "form",
    {
      class: "links",
      "aria-labelledby": titleId,
      onsubmit: async (event) => {
        event.preventDefault();
        status.textContent = "";
        let found;
        try {
          found = await api("GET", `/contacts?phone=${encodeURIComponent(number.value.trim())}`);
        } catch (err) {
          status.textContent = err instanceof ApiError && err.status === 422 ? t("search.invalid") : err.message;
          return;
        }
        const other = found[0];
        if (!other || other.id === contact.id) {
          status.textContent = t("contact.link_none");
          return;
        }
        try {
          const merged = await api("POST", path("merge"), { other: other.id });
          status.textContent = t("contact.linked", { other: contactTitle(other) });
          onChanged(merged);
        } catch (err) {
          status.textContent = t("contact.link_failed", { why: err.message });
        }
      },
    },
    h("h4", { id: titleId }, t("contact.links")),
    linked.length ? h("ul", { class: "linked" }, linked) : h("p", { class: "muted" }, t("contact.no_links")),
    h("div", { class: "row" }, field(t("contact.link_number"), number)),
    h("button", { type: "submit" }, t("contact.link")),
    status,
  );
}

// The console's contacts card (operators): search, then one contact at a time with its
// details, its links and its latest events.
export class ContactsPanel {
  constructor(describeEvent) {
    this.describeEvent = describeEvent;
    this.view = h("div", { class: "contact-view", "aria-live": "polite" });
    const titleId = uid("h");
    this.element = h(
      "section",
      { class: "card contacts", "aria-labelledby": titleId },
      h("h2", { id: titleId }, t("contacts.title")),
      ...searchCard({
        result: (contact) =>
          h(
            "div",
            { class: "result" },
            h("p", { class: "name" }, contactTitle(contact)),
            h("p", {}, numbersOf(contact).map((n) => h("span", { class: "number", dir: "ltr" }, phone(n)))),
            attributesLine(contact),
            h(
              "button",
              { type: "button", onclick: () => this.show(contact.id) },
              t("search.open", { who: contactTitle(contact) }),
            ),
          ),
        nothing: () => h("p", {}, t("search.nothing")),
      }).childNodes,
      this.view,
    );
  }

  async show(contactId) {
    const path = `/contacts/${encodeURIComponent(contactId)}`;
    const [contact, page] = await Promise.all([api("GET", path), apiPage(`${path}/journey?limit=10`)]);
    await loadPhones(numbersOf(contact));
    this.render(contact, page);
  }

  render(contact, { data: events, next }) {
    const refresh = (saved) => this.show(saved.id);
    const titleId = uid("h");
    this.view.replaceChildren(
      h(
        "article",
        { "aria-labelledby": titleId },
        h("h3", { id: titleId, class: "contact-name" }, contactTitle(contact)),
        h("p", {}, numbersOf(contact).map((n) => h("span", { class: "number", dir: "ltr" }, phone(n)))),
        detailsForm(contact, refresh),
        linksForm(contact, refresh),
        h("h4", {}, t("contacts.latest")),
        this.journey(events, next),
      ),
    );
  }

  // The latest events, newest first, and a button for the page before them.
  journey(events, next) {
    const item = (e) => h("li", { class: "event" }, this.describeEvent(e));
    const list = h("ol", { class: "journey" }, events.slice().reverse().map(item));
    let older = next;
    const more = h("button", { type: "button", class: "older", hidden: !older }, t("work.older"));
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const page = await apiPage(older);
        await loadPhones(page.data.map((e) => e.number).filter(Boolean));
        list.append(...page.data.slice().reverse().map(item));
        older = page.next;
        more.hidden = !older;
      } catch (err) {
        more.textContent = t("work.older_failed", { why: err.message });
      } finally {
        more.disabled = false;
      }
    });
    return [list, more];
  }
}
