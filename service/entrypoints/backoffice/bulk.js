// Bulk appeasements: one request shape on many orders; a dry run first, then the run.
import {api, download} from "./api.js";
import {announce, go, page, session} from "./app.js";
import {clear, clearErrors, field, h, money, showError, table, when} from "./dom.js";
import {explain} from "./order.js";
import {STATUS_WORDS, words} from "./words.js";

const BUCKETS = [["product", "Product"], ["shipping", "Shipping"], ["handling", "Handling"],
  ["fee", "Fee"], ["overage", "Overage"]];

export async function bulkListPage() {
  const recent = h("div");
  page("Bulk appeasements", createForm(), h("section", {class: "card", "aria-labelledby": "recent-title"},
    h("h2", {id: "recent-title"}, "Latest"), recent));
  const list = await api("/v1/bulk-appeasements");
  if (!list.ok) return;
  clear(recent, list.body.length ? table("Bulk appeasements", ["Name", "Status", "Done", "Granted", "Held", "Refused", "By", "Created"],
    list.body.map((b) => h("tr", {},
      h("th", {scope: "row"}, h("a", {href: `#/bulk/${b.id}`}, b.name)),
      h("td", {}, STATUS_WORDS[b.status] || b.status),
      h("td", {class: "num"}, `${b.progress.done}/${b.progress.total}`),
      h("td", {class: "num"}, b.progress.granted), h("td", {class: "num"}, b.progress.held),
      h("td", {class: "num"}, b.progress.refused), h("td", {}, b.created_by), h("td", {}, when(b.created_at))))) : h("p", {}, "None yet."));
}

function radios(name, legend, choices, onchange) {
  return h("fieldset", {class: "choice"}, h("legend", {}, legend),
    choices.map(([value, label], index) => h("label", {class: "radio"},
      h("input", {type: "radio", name, value, checked: index === 0, onchange}), label)));
}

function createForm() {
  const name = h("input", {name: "name", required: true, autocomplete: "off", maxlength: 200});
  const reason = h("select", {name: "reason", required: true}, h("option", {value: ""}, "Choose a reason"),
    session.me.reasons.map((r) => h("option", {value: r.code}, `${r.label} (${r.code})`)));
  const comment = h("textarea", {name: "comment", rows: 2, maxlength: 1000});
  const shapeChoice = radios("bulk_shape", "What each order gets", [["amounts", "Amounts"],
    ["percent", "Percentage of the order"], ["shipping", "Its shipping in full"]], () => toggle());
  const amounts = h("fieldset", {class: "shape grid", "data-shape": "amounts"}, h("legend", {}, "Amounts on each order"),
    BUCKETS.map(([bucket, label]) => field(label, h("input", {name: bucket, inputmode: "decimal", autocomplete: "off", size: 10}))));
  const percentInput = h("input", {name: "percent", inputmode: "decimal", autocomplete: "off", size: 6});
  const includeShipping = h("input", {type: "checkbox", name: "include_shipping"});
  const percent = h("fieldset", {class: "shape", "data-shape": "percent", hidden: true}, h("legend", {}, "Percentage"),
    field("Percent", percentInput), h("label", {class: "check"}, includeShipping, "Of shipping too"));
  const selectionChoice = radios("bulk_selection", "Which orders", [["ids", "A list of order ids"],
    ["csv", "A CSV file"], ["carrier", "Shipped by a carrier between two moments"]], () => toggle());
  const ids = h("textarea", {name: "order_ids", rows: 4});
  const csv = h("input", {type: "file", name: "csv", accept: ".csv,text/csv,text/plain"});
  const carrier = h("input", {name: "carrier", autocomplete: "off"});
  const from = h("input", {type: "datetime-local", name: "shipped_from"});
  const to = h("input", {type: "datetime-local", name: "shipped_to"});
  const selections = [
    h("div", {class: "selection", "data-selection": "ids"}, field("Order ids", ids, "One per line, or separated by commas or spaces")),
    h("div", {class: "selection", "data-selection": "csv", hidden: true}, field("CSV file", csv, "Order ids in the first column; an order_id header is fine")),
    h("div", {class: "selection grid", "data-selection": "carrier", hidden: true},
      field("Carrier", carrier), field("Shipped from (UTC)", from), field("Shipped before (UTC)", to)),
  ];
  const error = h("p", {class: "form-error", role: "alert", hidden: true});
  const submit = h("button", {type: "submit", class: "primary"}, "Dry run");
  const form = h("form", {class: "card", "aria-labelledby": "create-title", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clearErrors(form);
    const problems = [[name, !name.value.trim()], [reason, !reason.value]];
    for (const [control, missing] of problems) if (missing) showError(control.closest(".field"), "Required.");
    const missing = problems.find(([, bad]) => bad);
    if (missing) return missing[0].focus();
    submit.disabled = true;
    const answer = await api("/v1/bulk-appeasements", {method: "POST", body: await body()});
    submit.disabled = false;
    if (!answer.ok) {
      const fieldErrors = (answer.body.errors || []).map((e) => e.message).join("; ");
      error.textContent = `${explain(answer.body)} ${fieldErrors}`.trim();
      error.hidden = false;
      error.setAttribute("tabindex", "-1");
      error.focus();
      return;
    }
    announce(`Dry run done for ${answer.body.items.length} orders`);
    go(`#/bulk/${answer.body.id}`);
  }},
  h("h2", {id: "create-title"}, "New bulk appeasement"),
  field("Name", name), field("Reason", reason), field("Comment", comment),
  shapeChoice, amounts, percent, selectionChoice, selections, error,
  h("div", {class: "actions"}, submit));

  function chosen(group) {
    return form.querySelector(`input[name=${group}]:checked`).value;
  }

  function toggle() {
    for (const each of form.querySelectorAll("fieldset.shape")) each.hidden = each.dataset.shape !== chosen("bulk_shape");
    for (const each of selections) each.hidden = each.dataset.selection !== chosen("bulk_selection");
  }

  async function body() {
    const request = {};
    if (chosen("bulk_shape") === "amounts") {
      request.amounts = {};
      for (const [bucket] of BUCKETS) {
        const value = amounts.querySelector(`[name=${bucket}]`).value.trim();
        if (value) request.amounts[bucket] = value;
      }
    } else if (chosen("bulk_shape") === "percent") {
      request.percent = percentInput.value.trim();
      request.include_shipping = includeShipping.checked;
    } else {
      request.shipping_in_full = true;
    }
    let selection;
    if (chosen("bulk_selection") === "ids") {
      selection = {order_ids: ids.value.split(/[\s,;]+/).filter(Boolean)};
    } else if (chosen("bulk_selection") === "csv") {
      selection = {csv: csv.files.length ? await csv.files[0].text() : ""};
    } else {
      const utc = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : null);
      selection = {carrier: carrier.value.trim(), shipped_from: utc(from.value), shipped_to: utc(to.value)};
    }
    const made = {name: name.value.trim(), reason: reason.value, request, selection};
    if (comment.value.trim()) made.comment = comment.value.trim();
    return made;
  }

  return form;
}

let polling = null;

export async function bulkPage(bulkId) {
  clearTimeout(polling);
  const body = h("div", {"data-testid": "bulk"});
  page(`Bulk appeasement ${bulkId}`, body);
  await show(bulkId, body);
}

async function show(bulkId, body) {
  const answer = await api(`/v1/bulk-appeasements/${encodeURIComponent(bulkId)}`);
  if (!body.isConnected) return;
  if (!answer.ok) {
    clear(body, h("p", {class: "form-error", role: "alert"}, explain(answer.body)));
    return;
  }
  const bulk = answer.body;
  const dry = bulk.dry_run;
  const counts = bulk.progress;
  const error = h("p", {class: "form-error", role: "alert", hidden: true});
  async function act(action) {
    const done = await api(`/v1/bulk-appeasements/${encodeURIComponent(bulk.id)}/${action}`, {method: "POST"});
    if (!done.ok) {
      error.textContent = explain(done.body);
      error.hidden = false;
      return;
    }
    announce(action === "run" ? "Running" : "Cancelled");
    await show(bulk.id, body);
  }
  const codes = (byCode) => Object.entries(byCode).map(([code, n]) => `${n} ${code} (${words(code)})`).join("; ");
  clear(body,
    h("section", {class: "card", "aria-labelledby": "bulk-title"},
      h("h2", {id: "bulk-title"}, bulk.name, " · ", h("span", {class: `badge ${bulk.status}`, "data-testid": "bulk-status"}, `${STATUS_WORDS[bulk.status]} (${bulk.status})`)),
      h("dl", {class: "facts"},
        h("dt", {}, "Reason"), h("dd", {}, bulk.reason),
        bulk.comment ? [h("dt", {}, "Comment"), h("dd", {}, bulk.comment)] : null,
        h("dt", {}, "Each order gets"), h("dd", {}, describeShape(bulk.request)),
        h("dt", {}, "Created"), h("dd", {}, `${bulk.created_by} (${bulk.role}), ${when(bulk.created_at)}`),
        bulk.run_by ? [h("dt", {}, "Run by"), h("dd", {}, `${bulk.run_by}, ${when(bulk.started_at)}`)] : null,
        bulk.cancelled_by ? [h("dt", {}, "Cancelled by"), h("dd", {}, bulk.cancelled_by)] : null),
      h("h3", {}, "Dry run"),
      h("p", {"data-testid": "dry-run"}, `${dry.would_grant} would be granted, ${dry.would_hold} held for approval, ${dry.would_refuse} refused`,
        dry.would_refuse ? ` (${codes(dry.refused_by_code)})` : "", ". Amount: ",
        Object.entries(dry.amount_by_currency).map(([code, total]) => money(total, code)).join(", ") || "none", "."),
      h("h3", {}, "Progress"),
      h("progress", {max: counts.total, value: counts.done + counts.cancelled, "aria-label": "Orders done"}),
      h("p", {"data-testid": "progress", role: "status"},
        `${counts.done} of ${counts.total} done: ${counts.granted} granted, ${counts.held} held, ${counts.refused} refused`,
        counts.refused ? ` (${codes(counts.refused_by_code)})` : "", counts.cancelled ? `, ${counts.cancelled} cancelled` : "", "."),
      error,
      h("div", {class: "actions"},
        bulk.status === "DRAFT" ? h("button", {type: "button", class: "primary", onclick: () => act("run")}, `Run: grant ${dry.would_grant + dry.would_hold} appeasements`) : null,
        ["DRAFT", "RUNNING"].includes(bulk.status) ? h("button", {type: "button", onclick: () => act("cancel")}, "Cancel") : null,
        h("button", {type: "button", onclick: () => download(`/v1/bulk-appeasements/${encodeURIComponent(bulk.id)}`, `${bulk.id}.csv`)}, "Download results (CSV)"))),
    h("section", {class: "card", "aria-labelledby": "items-title"},
      h("h2", {id: "items-title"}, "Orders"),
      table("One row per order", ["Order", "Dry run", "Result", "Appeasement", "Amount", "Why refused"],
        bulk.items.map((item) => h("tr", {"data-order": item.order_id, "data-status": item.status},
          h("th", {scope: "row"}, h("a", {href: `#/orders/${encodeURIComponent(item.order_id)}`}, item.order_id)),
          h("td", {}, item.dry_run.status === "REFUSED" ? `Refused: ${item.dry_run.code}` : `${STATUS_WORDS[item.dry_run.status]} ${money(item.dry_run.amount, item.currency)}`),
          h("td", {}, STATUS_WORDS[item.status] || item.status),
          h("td", {}, item.appeasement_id || ""),
          h("td", {class: "num"}, money(item.amount, item.currency)),
          h("td", {}, item.code ? `${item.code}: ${words(item.code)}` : ""))), {"data-testid": "items"})));
  if (bulk.status === "RUNNING") polling = setTimeout(() => show(bulk.id, body), 1000);
}

function describeShape(shape) {
  if (shape.shipping_in_full) return "its creditable shipping, in full";
  if (shape.percent) return `${shape.percent} % of its creditable product value${shape.include_shipping ? " and shipping" : ""}`;
  return Object.entries(shape.amounts || {}).map(([bucket, amount]) => `${bucket} ${amount}`).join(", ");
}
