// The back office shell: sign in and out, the menu the role allows, and the pages.
import {api, signIn, signOut, token} from "./api.js";
import {clear, field, h} from "./dom.js";
import {words} from "./words.js";
import {orderPage} from "./order.js";
import {approvalsPage} from "./approvals.js";
import {bulkListPage, bulkPage} from "./bulk.js";
import {reportsPage} from "./reports.js";

const main = document.getElementById("main");
export const session = {me: null};

export function announce(text) {
  document.getElementById("announce").textContent = text;
}

export function may(action) {
  return Boolean(session.me && session.me.may.includes(action));
}

// A page starts with its heading, which takes the focus: a keyboard or screen reader user
// lands on what just opened.
export function page(title, ...children) {
  document.title = `${title} - Appeasements back office`;
  const heading = h("h1", {tabindex: "-1"}, title);
  clear(main, heading, ...children);
  heading.focus();
  return main;
}

function signInPage(message) {
  const input = h("input", {type: "password", name: "token", autocomplete: "off", required: true});
  const error = h("p", {class: "form-error", role: "alert", hidden: !message}, message || "");
  const form = h("form", {class: "card narrow", onsubmit: async (event) => {
    event.preventDefault();
    signIn(input.value);
    const me = await api("/v1/me", {probe: true});
    if (!me.ok) {
      signOut();
      error.textContent = me.status === 401 ? "This token is not valid." : words(me.body.code, me.body.detail);
      error.hidden = false;
      input.focus();
      return;
    }
    session.me = me.body;
    showSession();
    location.hash = "#/orders";
    route();
  }},
  field("Bearer token", input, "A token of the tokens file, or a JWT"),
  error,
  h("button", {type: "submit", class: "primary"}, "Sign in"));
  page("Sign in", form);
  input.focus();
}

function showSession() {
  const me = session.me;
  document.getElementById("nav").hidden = !me;
  document.getElementById("who").hidden = !me;
  if (!me) return;
  document.getElementById("who-name").textContent = `${me.user} (${me.role})`;
  for (const item of document.querySelectorAll("[data-may]")) item.hidden = !may(item.dataset.may);
}

async function route() {
  if (!token()) {
    session.me = null;
    showSession();
    return signInPage();
  }
  if (!session.me) {
    const me = await api("/v1/me");
    if (!me.ok) return signInPage(words(me.body.code, me.body.detail));
    session.me = me.body;
    showSession();
  }
  const [, name, id] = (location.hash || "#/orders").split("/");
  const target = decodeURIComponent(id || "");
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#/${name}`);
    if (link.hasAttribute("aria-current")) link.setAttribute("aria-current", "page");
  }
  if (name === "approvals") return approvalsPage();
  if (name === "bulk") return target ? bulkPage(target) : bulkListPage();
  if (name === "reports") return reportsPage();
  return orderPage(target);
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  session.me = null;
  showSession();
  location.hash = "#/signin";
  signInPage("You are signed out.");
});
window.addEventListener("signed-out", (event) => {
  session.me = null;
  showSession();
  signInPage(words("UNAUTHENTICATED", event.detail && event.detail.detail));
});
window.addEventListener("hashchange", route);
route();
