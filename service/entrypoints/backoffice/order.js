// The order page: look an order up, see its balance and shipments, calculate and grant an
// appeasement, read its history (refusals too) and work its claims.
import {api, newKey} from "./api.js";
import {announce, go, may, page, session} from "./app.js";
import {clear, clearErrors, field, h, money, showError, table, when} from "./dom.js";
import {STATUS_WORDS, words} from "./words.js";

const BUCKETS = ["product", "shipping", "handling", "tax", "fee", "overage"];
const BUCKET_LABELS = {
  product: "Product", shipping: "Shipping", handling: "Handling", tax: "Tax", fee: "Fee",
  overage: "Overage",
};
const FIGURES = [["paid", "Paid"], ["refunded", "Refunded"], ["appeased", "Appeased"],
  ["under_return", "Under return"], ["creditable", "Creditable"]];

export async function orderPage(orderId) {
  const input = h("input", {name: "order_id", value: orderId || "", required: true, autocomplete: "off"});
  const lookup = h("form", {class: "card inline", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const wanted = input.value.trim();
    if (wanted) go(`#/orders/${encodeURIComponent(wanted)}`);
  }}, field("Order id", input), h("button", {type: "submit"}, "Look up"));
  const content = h("div", {id: "order"});
  page(orderId ? `Order ${orderId}` : "Order", lookup, content);
  if (!orderId) {
    input.focus();
    return;
  }
  await loadOrder(orderId, content);
}

async function loadOrder(orderId, content) {
  const path = `/v1/orders/${encodeURIComponent(orderId)}`;
  const [balance, shipments, history, claims] = await Promise.all([
    api(`${path}/balance`), api(`${path}/shipments`), api(`${path}/appeasements`),
    api(`${path}/claims`),
  ]);
  if (!balance.ok) {
    clear(content, h("p", {class: "form-error", role: "alert"}, words(balance.body.code, balance.body.detail)));
    return;
  }
  const order = balance.body;
  const reload = () => loadOrder(orderId, content);
  const openClaims = claims.ok ? claims.body.filter((claim) => claim.status === "OPEN") : [];
  clear(content,
    summary(order),
    linesSection(order),
    shipmentsSection(shipments.ok ? shipments.body : null),
    may("grant") ? grantSection(order, openClaims, reload) : null,
    historySection(order, history.ok ? history.body : null),
    claimsSection(order, claims.ok ? claims.body : [], reload));
}

function summary(order) {
  const facts = [
    ["Store", order.store], ["Currency", order.currency],
    ["Taxation", order.taxation === "net" ? "net (amounts exclude tax)" : "gross (amounts include VAT)"],
    ["Status", order.status],
    ["Appeasable", order.appeasable ? "yes" : `no: ${words(order.not_appeasable_reason)}`],
    ["Creditable", money(order.totals.creditable.gross, order.currency)],
  ];
  return h("section", {class: "card", "aria-labelledby": "summary-title"},
    h("h2", {id: "summary-title"}, "Summary"),
    h("dl", {class: "facts"}, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value || "")])));
}

function figure(amounts) {
  return [amounts.gross, h("span", {class: "tax"}, `tax ${amounts.tax}`)];
}

function linesSection(order) {
  const rows = order.lines.map((line) => h("tr", {"data-line": line.line_id},
    h("th", {scope: "row"}, `${line.line_number} · ${line.line_id}`),
    h("td", {}, line.product_name || line.sku, line.dropped ? " (dropped)" : "", line.cancelled ? " (cancelled)" : ""),
    h("td", {}, line.bucket),
    h("td", {class: "num"}, line.quantity),
    h("td", {class: "num"}, line.tax_rate === null ? "" : `${line.tax_rate} %`),
    FIGURES.map(([name]) => h("td", {class: "num", "data-figure": name}, figure(line[name])))));
  const buckets = Object.entries(order.buckets).map(([name, totals]) => h("tr", {},
    h("th", {scope: "row"}, BUCKET_LABELS[name] || name),
    FIGURES.map(([key]) => h("td", {class: "num"}, figure(totals[key])))));
  buckets.push(h("tr", {class: "total"}, h("th", {scope: "row"}, "Total"),
    FIGURES.map(([key]) => h("td", {class: "num"}, figure(order.totals[key])))));
  return h("section", {class: "card", "aria-labelledby": "lines-title"},
    h("h2", {id: "lines-title"}, `Lines (${order.currency}, gross with its tax)`),
    table("Each line's money", ["Line", "Product", "Bucket", "Qty", "VAT",
      ...FIGURES.map(([, label]) => label)], rows, {"data-testid": "lines"}),
    table("Per bucket", ["Bucket", ...FIGURES.map(([, label]) => label)], buckets));
}

function shipmentsSection(shipments) {
  const section = h("section", {class: "card", "aria-labelledby": "shipments-title", "data-testid": "shipments"},
    h("h2", {id: "shipments-title"}, "Shipments"));
  if (!shipments) return section;
  if (!shipments.length) {
    section.append(h("p", {}, "Nothing shipped yet, as far as the OMS told us."));
    return section;
  }
  section.append(table("What the OMS shipped", ["Shipped", "Method", "Lines", "Carrier", "Tracking"],
    shipments.map((s) => h("tr", {"data-shipment": s.shipment_id},
      h("td", {}, s.shipped_at ? when(s.shipped_at) : "unknown"), h("td", {}, s.method || ""),
      h("td", {}, s.line_ids.join(", ")), h("td", {}, s.carriers.join(", ")),
      h("td", {}, s.tracking_numbers.join(", "))))));
  return section;
}

// --- the appeasement form ------------------------------------------------------------
function amountInput(name, label) {
  return h("input", {name, "aria-label": label, inputmode: "decimal", autocomplete: "off",
    pattern: "[0-9]{1,15}([.][0-9]+)?", size: 10});
}

function grantSection(order, openClaims, reload) {
  let key = newKey();  // made when the form opens: a retry or a double click never grants twice
  let sending = false;
  const reasons = session.me.reasons;
  const reason = h("select", {name: "reason", required: true},
    h("option", {value: ""}, "Choose a reason"),
    reasons.map((r) => h("option", {value: r.code}, `${r.label} (${r.code})`)));
  const reasonHint = h("p", {class: "hint", "aria-live": "polite", "data-testid": "reason-buckets"});
  reason.addEventListener("change", () => {
    const chosen = reasons.find((r) => r.code === reason.value);
    reasonHint.textContent = chosen ? `This reason may credit: ${chosen.buckets.join(", ")}.` : "";
  });
  const shapes = [["amounts", "Order-level amounts"], ["lines", "Per line"], ["percent", "Percentage of the order"]];
  const shapeChoice = h("fieldset", {class: "choice"}, h("legend", {}, "What to give"),
    shapes.map(([value, label], index) => h("label", {class: "radio"},
      h("input", {type: "radio", name: "shape", value, checked: index === 0, onchange: () => showShape()}), label)));
  const buckets = BUCKETS.filter((bucket) => bucket !== "tax" || order.taxation === "net");
  const amounts = h("fieldset", {class: "shape grid", "data-shape": "amounts"},
    h("legend", {}, `Amounts in ${order.currency} ${order.taxation === "net" ? "(without tax)" : "(tax included)"}`),
    buckets.map((bucket) => field(BUCKET_LABELS[bucket], amountInput(bucket))));
  const appeasable = order.lines.filter((line) => !line.dropped && !line.cancelled);
  const lines = h("fieldset", {class: "shape", "data-shape": "lines", hidden: true},
    h("legend", {}, "Per line: an amount, a percentage, or a unit price times a quantity"),
    table("Lines to credit", ["Line", "Creditable", "Amount", "Percent", "Unit price", "Quantity"],
      appeasable.map((line) => h("tr", {"data-line": line.line_id},
        h("th", {scope: "row"}, `${line.line_number} · ${line.product_name || line.sku}`),
        h("td", {class: "num"}, line.creditable.gross),
        ["amount", "percent", "unit_amount", "quantity"].map((kind) => h("td", {class: "field", "data-field": `${line.line_id}.${kind}`},
          kind === "quantity"
            ? h("input", {name: `${line.line_id}.quantity`, type: "number", min: 1, step: 1,
              "aria-label": `Quantity, line ${line.line_number}`, class: "small"})
            : amountInput(`${line.line_id}.${kind}`, `${{amount: "Amount", percent: "Percent", unit_amount: "Unit price"}[kind]}, line ${line.line_number}`),
          h("p", {class: "field-error", role: "alert", hidden: true})))))));
  const percentInput = h("input", {name: "percent", inputmode: "decimal", autocomplete: "off", size: 6});
  const includeShipping = h("input", {type: "checkbox", name: "include_shipping"});
  const percent = h("fieldset", {class: "shape", "data-shape": "percent", hidden: true},
    h("legend", {}, "Percentage of the creditable product value"),
    field("Percent", percentInput),
    h("label", {class: "check"}, includeShipping, "Of shipping too"));
  const comment = h("textarea", {name: "comment", rows: 2, maxlength: 1000});
  const claim = h("select", {name: "claim_id"}, h("option", {value: ""}, "None"),
    openClaims.map((c) => h("option", {value: c.id}, `${c.id}: ${c.reason}`)));
  const formError = h("p", {class: "form-error", role: "alert", hidden: true});
  const result = h("div", {class: "preview", "data-testid": "preview", "aria-live": "polite"});
  const calculate = h("button", {type: "button", onclick: () => send(false)}, "Calculate");
  const grant = h("button", {type: "submit", class: "primary"}, "Grant");
  const form = h("form", {class: "card", "aria-labelledby": "grant-title", novalidate: true,
    onsubmit: (event) => { event.preventDefault(); send(true); }},
  h("h2", {id: "grant-title"}, "New appeasement"),
  field("Reason", reason), reasonHint, shapeChoice, amounts, lines, percent,
  field("Comment", comment), field("Claim", claim),
  formError,
  h("div", {class: "actions"}, calculate, grant),
  result);

  function shape() {
    return form.querySelector("input[name=shape]:checked").value;
  }

  function showShape() {
    for (const each of form.querySelectorAll("fieldset.shape")) each.hidden = each.dataset.shape !== shape();
  }

  function body() {
    const request = {reason: reason.value};
    if (comment.value.trim()) request.comment = comment.value.trim();
    if (claim.value) request.claim_id = claim.value;
    if (shape() === "amounts") {
      request.amounts = {};
      for (const bucket of buckets) {
        const value = amounts.querySelector(`[name=${bucket}]`).value.trim();
        if (value) request.amounts[bucket] = value;
      }
    } else if (shape() === "percent") {
      request.percent = percentInput.value.trim();
      request.include_shipping = includeShipping.checked;
    } else {
      request.lines = [];
      for (const line of appeasable) {
        const value = (kind) => lines.querySelector(`[name="${line.line_id}.${kind}"]`).value.trim();
        const item = {line_id: line.line_id};
        if (value("amount")) item.amount = value("amount");
        if (value("percent")) item.percent = value("percent");
        if (value("unit_amount")) item.unit_amount = value("unit_amount");
        if (value("quantity")) item.quantity = Number(value("quantity"));
        if (Object.keys(item).length > 1) request.lines.push(item);
      }
    }
    return request;
  }

  async function send(granting) {
    if (sending) return;
    clearErrors(form);
    if (!reason.value) {
      showError(reason.closest(".field"), words("UNKNOWN_REASON"));
      reason.focus();
      return;
    }
    sending = true;
    grant.disabled = true;
    calculate.disabled = true;
    const path = `/v1/orders/${encodeURIComponent(order.order_id)}/appeasements${granting ? "" : "/preview"}`;
    const answer = await api(path, {method: "POST", body: body(),
      headers: granting ? {"Idempotency-Key": key} : {}});
    sending = false;
    grant.disabled = false;
    calculate.disabled = false;
    if (answer.status > 0 && answer.status < 500 && granting) key = newKey();
    if (!answer.ok) {
      clear(result);
      placeError(answer.body);
      return;
    }
    if (!granting) {
      showPreview(answer.body);
      return;
    }
    announce(`Appeasement ${answer.body.id} granted: ${STATUS_WORDS[answer.body.status]}`);
    await reload();
    const granted = document.querySelector(`[data-appeasement="${answer.body.id}"]`);
    if (granted) granted.querySelector("h3").focus();
  }

  function showPreview(preview) {
    const held = preview.status === "PENDINGAPPROVAL";
    clear(result,
      h("h3", {}, "Calculation"),
      table("How it is split", ["Line", "Bucket", "Net", "Tax", "Gross", "VAT"],
        preview.allocation.map((piece) => h("tr", {},
          h("th", {scope: "row"}, piece.order_line), h("td", {}, piece.bucket),
          h("td", {class: "num", "data-amount": "net"}, piece.net),
          h("td", {class: "num", "data-amount": "tax"}, piece.tax),
          h("td", {class: "num", "data-amount": "gross"}, piece.gross),
          h("td", {class: "num"}, piece.tax_rate === null ? "" : `${piece.tax_rate} %`)))),
      h("dl", {class: "facts totals", "data-testid": "totals"},
        h("dt", {}, "Net"), h("dd", {"data-total": "net"}, money(preview.totals.net, preview.currency)),
        h("dt", {}, "Tax"), h("dd", {"data-total": "tax"}, money(preview.totals.tax, preview.currency)),
        h("dt", {}, "Gross"), h("dd", {"data-total": "gross"}, money(preview.totals.gross, preview.currency))),
      h("p", {class: `status ${held ? "held" : "release"}`, "data-testid": "would-be"},
        held ? "Above your limits: it will be held for approval (PENDINGAPPROVAL)."
          : "Within your limits: it goes straight to release (PENDINGRELEASE)."));
  }

  // The rule's plain words next to the field it is about; the form's own line otherwise.
  function placeError(problem) {
    const message = explain(problem);
    const byName = (name) => form.querySelector(`[name="${name}"]`);
    let control = null;
    if (problem.code === "MALFORMED_REQUEST" && Array.isArray(problem.errors)) {
      for (const error of problem.errors) {
        const path = error.field.split(".").filter((part) => !["body", "amounts", "function-after[names_a_line()]"].includes(part));
        const target = byName(path[path.length - 1]) || byName(path[0]);
        if (target) {
          showError(target.closest(".field"), `${message} ${error.message}`);
          control = control || target;
        }
      }
    } else if (problem.line && shape() === "lines") {
      control = lines.querySelector(`tr[data-line="${problem.line}"] input:not([name$=quantity])`);
      const filled = [...lines.querySelectorAll(`tr[data-line="${problem.line}"] input`)].find((each) => each.value);
      control = filled || control;
    } else if (["INVALID_AMOUNT", "CURRENCY_PRECISION"].includes(problem.code)) {
      control = [...form.querySelectorAll("fieldset.shape:not([hidden]) input")].find((each) => each.value.trim() === problem.amount)
        || form.querySelector("fieldset.shape:not([hidden]) input");
    } else if (problem.bucket && shape() === "amounts" && byName(problem.bucket)) {
      control = byName(problem.bucket);
    } else if (["UNKNOWN_REASON", "REASON_LIMIT_EXCEEDED", "BUCKET_NOT_ALLOWED_FOR_REASON"].includes(problem.code)) {
      control = reason;
    } else if (["CLAIM_NOT_FOUND", "CLAIM_CLOSED"].includes(problem.code)) {
      control = claim;
    }
    if (control && !(problem.code === "MALFORMED_REQUEST" && problem.errors)) {
      showError(control.closest(".field"), message);
    }
    if (control) {
      control.focus();
    } else {
      formError.textContent = message;
      formError.hidden = false;
      formError.setAttribute("tabindex", "-1");
      formError.focus();
    }
  }

  return form;
}

export function explain(problem) {
  const base = words(problem.code, problem.detail);
  const extra = [];
  if (problem.available) extra.push(`Still creditable: ${problem.available}.`);
  if (problem.limit) extra.push(`The limit is ${problem.limit}${problem.already && problem.already !== "0" && problem.already !== "0.00" ? `, ${problem.already} already given` : ""}.`);
  if (problem.code && !["MALFORMED_REQUEST"].includes(problem.code)) extra.push(`(${problem.code})`);
  return [base, ...extra].join(" ");
}

// --- history ------------------------------------------------------------------------
function historySection(order, history) {
  const section = h("section", {class: "card", "aria-labelledby": "history-title", "data-testid": "history"},
    h("h2", {id: "history-title"}, "History"));
  if (!history) return section;
  if (!history.appeasements.length) section.append(h("p", {}, "No appeasement yet."));
  for (const item of [...history.appeasements].reverse()) {
    section.append(h("article", {class: "appeasement", "data-appeasement": item.id, "data-status": item.status},
      h("h3", {tabindex: "-1"}, `${item.id} · ${money(item.amount, item.currency)} · `,
        h("span", {class: `badge ${item.status}`}, `${STATUS_WORDS[item.status] || item.status} (${item.status})`)),
      h("dl", {class: "facts"},
        h("dt", {}, "Reason"), h("dd", {}, item.reason),
        h("dt", {}, "Asked by"), h("dd", {}, `${item.requested_by} (${item.role})`),
        item.approved_by ? [h("dt", {}, "Approved by"), h("dd", {}, item.approved_by)] : null,
        h("dt", {}, "When"), h("dd", {}, when(item.created_at)),
        item.comment ? [h("dt", {}, "Comment"), h("dd", {}, item.comment)] : null,
        item.claim_id ? [h("dt", {}, "Claim"), h("dd", {}, item.claim_id)] : null,
        h("dt", {}, "Net / tax / gross"),
        h("dd", {}, `${item.totals.net} / ${item.totals.tax} / ${item.totals.gross} ${item.currency}`)),
      table("Split", ["Line", "Bucket", "Net", "Tax", "Gross"], item.allocation.map((piece) => h("tr", {},
        h("th", {scope: "row"}, piece.order_line), h("td", {}, piece.bucket), h("td", {class: "num"}, piece.net),
        h("td", {class: "num"}, piece.tax), h("td", {class: "num"}, piece.gross)))),
      table("Transitions", ["When", "From", "To", "Who", "Role", "Why", "Comment"], item.transitions.map((t) => h("tr", {},
        h("td", {}, when(t.at)), h("td", {}, t.from_status || ""), h("td", {}, t.to_status), h("td", {}, t.actor),
        h("td", {}, t.role || ""), h("td", {}, t.reason || ""), h("td", {}, t.comment || ""))))));
  }
  if (history.rejections.length) {
    section.append(table("Refused requests (nothing was given)", ["When", "Who", "Role", "Code", "Meaning", "Detail"],
      [...history.rejections].reverse().map((r) => h("tr", {"data-refusal": r.code},
        h("td", {}, when(r.at)), h("td", {}, r.actor || ""), h("td", {}, r.role || ""), h("td", {}, r.code),
        h("td", {}, words(r.code)), h("td", {}, r.message))), {"data-testid": "refusals"}));
  }
  return section;
}

// --- claims -------------------------------------------------------------------------
function claimsSection(order, claims, reload) {
  const section = h("section", {class: "card", "aria-labelledby": "claims-title", "data-testid": "claims"},
    h("h2", {id: "claims-title"}, "Claims"));
  if (!claims.length) section.append(h("p", {}, "No claim on this order."));
  for (const claim of claims) {
    const closing = claim.status === "OPEN" && may("claims") ? closeForm(claim, reload) : null;
    section.append(h("article", {class: "claim", "data-claim": claim.id, "data-status": claim.status},
      h("h3", {}, `${claim.id} · `, h("span", {class: `badge ${claim.status}`}, STATUS_WORDS[claim.status])),
      h("dl", {class: "facts"},
        h("dt", {}, "Reason"), h("dd", {}, claim.reason),
        h("dt", {}, "Lines"), h("dd", {}, claim.line_ids.join(", ")),
        claim.comment ? [h("dt", {}, "Comment"), h("dd", {}, claim.comment)] : null,
        h("dt", {}, "Opened"), h("dd", {}, `${claim.opened_by}, ${when(claim.opened_at)}`),
        claim.closed_by ? [h("dt", {}, "Closed"), h("dd", {}, `${claim.closed_by}, ${when(claim.closed_at)}${claim.close_comment ? `: ${claim.close_comment}` : ""}`)] : null,
        h("dt", {}, "Appeasements"),
        h("dd", {}, claim.appeasements.map((a) => `${a.id} ${money(a.amount, a.currency)} ${a.status}`).join("; ") || "none")),
      closing));
  }
  if (may("claims")) section.append(openClaimForm(order, reload));
  return section;
}

function closeForm(claim, reload) {
  const comment = h("input", {name: "close_comment", autocomplete: "off"});
  const error = h("p", {class: "form-error", role: "alert", hidden: true});
  return h("form", {class: "inline", onsubmit: async (event) => {
    event.preventDefault();
    const answer = await api(`/v1/claims/${encodeURIComponent(claim.id)}/close`, {method: "POST",
      body: comment.value.trim() ? {comment: comment.value.trim()} : {}});
    if (!answer.ok) {
      error.textContent = explain(answer.body);
      error.hidden = false;
      return;
    }
    announce(`Claim ${claim.id} closed`);
    await reload();
  }}, field(`Closing comment for ${claim.id}`, comment, "A closed claim is never reopened."),
  h("button", {type: "submit"}, `Close ${claim.id} for good`), error);
}

function openClaimForm(order, reload) {
  const reason = h("select", {name: "claim_reason", required: true}, h("option", {value: ""}, "Choose a reason"),
    session.me.reasons.map((r) => h("option", {value: r.code}, `${r.label} (${r.code})`)));
  const comment = h("textarea", {name: "claim_comment", rows: 2, maxlength: 1000});
  const boxes = order.lines.map((line) => h("label", {class: "check"},
    h("input", {type: "checkbox", name: "claim_line", value: line.line_id, checked: true}),
    `${line.line_number} · ${line.product_name || line.sku}`));
  const error = h("p", {class: "form-error", role: "alert", hidden: true});
  const form = h("form", {class: "subcard", "aria-labelledby": "open-claim-title", onsubmit: async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!reason.value) {
      showError(reason.closest(".field"), words("UNKNOWN_REASON"));
      reason.focus();
      return;
    }
    const ticked = boxes.map((box) => box.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
    if (!ticked.length) {
      error.textContent = "Tick at least one line.";
      error.hidden = false;
      return;
    }
    const body = {reason: reason.value};
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (ticked.length < boxes.length) body.line_ids = ticked;
    const answer = await api(`/v1/orders/${encodeURIComponent(order.order_id)}/claims`, {method: "POST", body});
    if (!answer.ok) {
      error.textContent = explain(answer.body);
      error.hidden = false;
      return;
    }
    announce(`Claim ${answer.body.id} opened`);
    await reload();
  }},
  h("h3", {id: "open-claim-title"}, "Open a claim"),
  field("Claim reason", reason),
  h("fieldset", {class: "choice"}, h("legend", {}, "Lines (all, or some)"), boxes),
  field("Claim comment", comment),
  error,
  h("button", {type: "submit"}, "Open claim"));
  return form;
}
