// The approvals queue: held appeasements, approved or declined by a second person.
import {api} from "./api.js";
import {announce, page} from "./app.js";
import {clear, h, money, table, when} from "./dom.js";
import {explain} from "./order.js";

export async function approvalsPage() {
  const body = h("div", {"data-testid": "approvals"});
  page("Approvals", h("p", {}, "Appeasements above their requester's limits wait here for a second person."), body);
  const queue = await api("/v1/approvals");
  if (!queue.ok) {
    clear(body, h("p", {class: "form-error", role: "alert"}, explain(queue.body)));
    return;
  }
  if (!queue.body.length) {
    clear(body, h("p", {}, "Nothing waits for approval."));
    return;
  }
  clear(body, table("Held for approval", ["Asked", "By", "Order", "Amount", "Reason", "Comment", "Decision"],
    queue.body.map((item) => row(item))));
}

function row(item) {
  const comment = h("input", {name: "decision_comment", autocomplete: "off",
    "aria-label": `Comment on ${item.id}`, placeholder: "Comment"});
  const error = h("p", {class: "form-error", role: "alert", hidden: true});
  const tr = h("tr", {"data-appeasement": item.id});
  async function decide(decision) {
    for (const button of tr.querySelectorAll("button")) button.disabled = true;
    const answer = await api(`/v1/appeasements/${encodeURIComponent(item.id)}/${decision}`, {
      method: "POST", body: comment.value.trim() ? {comment: comment.value.trim()} : {}});
    for (const button of tr.querySelectorAll("button")) button.disabled = false;
    if (!answer.ok) {
      error.textContent = explain(answer.body);
      error.hidden = false;
      comment.focus();
      return;
    }
    const done = decision === "approve" ? "approved: on its way (PENDINGRELEASE)" : "declined: the money is creditable again";
    clear(tr.lastElementChild, h("p", {class: "done", role: "status"}, `${item.id} ${done}`));
    announce(`${item.id} ${done}`);
  }
  return clear(tr,
    h("td", {}, when(item.created_at)),
    h("td", {}, `${item.requested_by} (${item.role})`),
    h("td", {}, h("a", {href: `#/orders/${encodeURIComponent(item.order_id)}`}, item.order_id)),
    h("td", {class: "num"}, money(item.amount, item.currency)),
    h("td", {}, item.reason),
    h("td", {}, item.comment || ""),
    h("td", {class: "decision"}, comment,
      h("button", {type: "button", class: "primary", "aria-label": `Approve ${item.id}`,
        onclick: () => decide("approve")}, "Approve"),
      h("button", {type: "button", "aria-label": `Decline ${item.id}`,
        onclick: () => decide("decline")}, "Decline"),
      error));
}
