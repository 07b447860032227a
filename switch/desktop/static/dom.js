// Building the page: h(tag, attributes, ...children) makes an element.
// Attributes named on<event> add listeners; true/false/null toggle plain attributes.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, "");
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

let counter = 0;

// A fresh id for label/for and aria-labelledby pairs.
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form control: [label, control].
export function field(labelText, control) {
  if (!control.id) control.id = uid("field");
  return [h("label", { for: control.id }, labelText), control];
}
