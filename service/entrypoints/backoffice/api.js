// The JSON API, called with the bearer token the user signed in with (kept for this tab only).
const KEY = "appeasement.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(value) {
  sessionStorage.setItem(KEY, value.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

// A 401 ends the session (the page goes back to sign in), unless `probe` is set: signing in
// checks a new token that way.
export async function api(path, {method = "GET", body, headers = {}, accept, probe = false} = {}) {
  const init = {method, headers: {Authorization: `Bearer ${token()}`, ...headers}};
  if (accept) init.headers.Accept = accept;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return {status: 0, ok: false, body: {code: "NETWORK", detail: "The service cannot be reached."}};
  }
  const type = response.headers.get("content-type") || "";
  const parsed = type.includes("json") ? await response.json() : await response.text();
  if (response.status === 401 && token() && !probe) {
    signOut();
    window.dispatchEvent(new CustomEvent("signed-out", {detail: parsed}));
  }
  return {status: response.status, ok: response.ok, body: parsed, headers: response.headers};
}

export function newKey() {
  return crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// A CSV answer saved as a file: fetched with the token, then handed to the browser.
export async function download(path, filename) {
  const answer = await api(path, {accept: "text/csv"});
  if (!answer.ok) return answer;
  const url = URL.createObjectURL(new Blob([answer.body], {type: "text/csv"}));
  const link = Object.assign(document.createElement("a"), {href: url, download: filename});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
  return answer;
}
