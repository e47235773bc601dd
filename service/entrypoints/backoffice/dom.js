// A tiny DOM builder: h("button", {type: "button", onclick: fn}, "Grant").
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const node = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (["value", "checked", "disabled", "selected", "multiple"].includes(name)) node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled field: the label names the control, and an error line sits right under it.
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const error = h("p", {class: "field-error", id: `${id}-error`, role: "alert", hidden: true});
  control.setAttribute("aria-describedby", `${id}-error${hint ? ` ${id}-hint` : ""}`);
  return h("div", {class: "field", "data-field": control.name || id},
    h("label", {for: id}, label),
    control,
    hint ? h("p", {class: "hint", id: `${id}-hint`}, hint) : null,
    error);
}

export function showError(container, message) {
  const error = container.querySelector(".field-error");
  const control = container.querySelector("input, select, textarea");
  if (!error) return;
  error.textContent = message;
  error.hidden = !message;
  if (control) control.setAttribute("aria-invalid", message ? "true" : "false");
}

export function clearErrors(root) {
  for (const each of root.querySelectorAll(".field")) showError(each, "");
  for (const each of root.querySelectorAll(".form-error")) { each.textContent = ""; each.hidden = true; }
}

export function money(amount, currency) {
  return amount === null || amount === undefined ? "" : `${amount} ${currency || ""}`.trim();
}

export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "";
}

export function table(caption, headers, rows, attrs = {}) {
  return h("div", {class: "table-wrap", ...attrs},
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", {scope: "col"}, name)))),
      h("tbody", {}, rows)));
}
