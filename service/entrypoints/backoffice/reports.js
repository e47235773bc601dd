// KPI reports: a table and a bar chart per grouping, drawn here as inline SVG.
import {api, download} from "./api.js";
import {page} from "./app.js";
import {clear, field, h, table} from "./dom.js";
import {explain} from "./order.js";

const GROUPINGS = [["reason", "Reason"], ["user", "User"], ["role", "Role"], ["day", "Day"], ["status", "Status"]];

function today(offset = 0) {
  const day = new Date(Date.now() + offset * 86400000);
  return day.toISOString().slice(0, 10);
}

export async function reportsPage() {
  const from = h("input", {type: "date", name: "from", value: today(-29), required: true});
  const to = h("input", {type: "date", name: "to", value: today(), required: true});
  const groupBy = h("select", {name: "group_by"}, GROUPINGS.map(([value, label]) => h("option", {value}, label)));
  const currency = h("input", {name: "currency", value: "EUR", maxlength: 3, size: 4, autocomplete: "off"});
  const result = h("div", {"data-testid": "report", "aria-live": "polite"});
  const query = () => {
    const params = new URLSearchParams({from: from.value, to: to.value, group_by: groupBy.value});
    if (currency.value.trim()) params.set("currency", currency.value.trim().toUpperCase());
    return `/v1/reports/appeasements?${params}`;
  };
  const form = h("form", {class: "card inline", onsubmit: async (event) => {
    event.preventDefault();
    const answer = await api(query());
    if (!answer.ok) {
      clear(result, h("p", {class: "form-error", role: "alert"}, explain(answer.body)));
      return;
    }
    show(answer.body, result);
  }},
  field("From", from), field("To", to), field("Group by", groupBy), field("Currency", currency, "Empty: every currency"),
  h("div", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Show"),
    h("button", {type: "button", onclick: () => download(query(), "appeasements-report.csv")}, "Download CSV")));
  page("Reports", form, result);
}

function show(report, result) {
  const rows = [...report.groups, ...report.totals];
  clear(result,
    h("section", {class: "card", "aria-labelledby": "chart-title"},
      h("h2", {id: "chart-title"}, `Gross credited by ${report.group_by}, ${report.period_from} to ${report.period_to}`),
      chart(report.groups)),
    h("section", {class: "card", "aria-labelledby": "figures-title"},
      h("h2", {id: "figures-title"}, "Figures"),
      table(`By ${report.group_by}, then the totals`, ["Group", "Currency", "Count", "Gross", "Net", "Tax",
        "Held", "Approved", "Declined", "Approved %", "Avg. to approve", "Refused", "Refusals by code"],
      rows.map((row, index) => h("tr", {class: index >= report.groups.length ? "total" : "", "data-group": row.key || ""},
        h("th", {scope: "row"}, row.key || "(none)"), h("td", {}, row.currency || ""),
        h("td", {class: "num"}, row.count), h("td", {class: "num", "data-figure": "gross"}, row.gross || ""),
        h("td", {class: "num", "data-figure": "net"}, row.net || ""), h("td", {class: "num", "data-figure": "tax"}, row.tax || ""),
        h("td", {class: "num"}, row.held), h("td", {class: "num"}, row.approved), h("td", {class: "num"}, row.declined),
        h("td", {class: "num"}, row.approval_rate === null ? "" : `${row.approval_rate} %`),
        h("td", {class: "num"}, row.average_seconds_to_approve === null ? "" : duration(row.average_seconds_to_approve)),
        h("td", {class: "num"}, row.refused),
        h("td", {}, Object.entries(row.refusals_by_code).map(([code, n]) => `${code} ${n}`).join(", ")))), {"data-testid": "figures"})));
}

function duration(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

// Bar lengths come from the amounts as exact integers (minor units, BigInt): no money is
// ever turned into a binary float.
function minor(amount) {
  if (!amount) return 0n;
  const [units, decimals = ""] = amount.split(".");
  return BigInt(units + decimals.padEnd(3, "0"));
}

function chart(groups) {
  const bars = groups.filter((row) => row.gross !== null);
  if (!bars.length) return h("p", {}, "Nothing was granted in this period.");
  const largest = bars.reduce((top, row) => (minor(row.gross) > top ? minor(row.gross) : top), 1n);
  const rowHeight = 28;
  const longest = Math.max(...bars.map((row) => (row.key || "(none)").length));
  const labelWidth = Math.min(340, longest * 8 + 16);
  const barSpace = 360;
  const width = labelWidth + barSpace + 170;
  const svg = h("svg:svg", {viewBox: `0 0 ${width} ${bars.length * rowHeight + 8}`, role: "img",
    width, height: bars.length * rowHeight + 8,
    class: "chart", "aria-label": bars.map((row) => `${row.key || "(none)"}: ${row.gross} ${row.currency}`).join("; ")});
  bars.forEach((row, index) => {
    const y = index * rowHeight + 4;
    const length = Number((minor(row.gross) * BigInt(barSpace)) / largest);
    svg.append(
      h("svg:text", {x: labelWidth - 8, y: y + 17, "text-anchor": "end", class: "chart-label"}, `${row.key || "(none)"}`),
      h("svg:rect", {x: labelWidth, y, width: Math.max(length, 1), height: rowHeight - 8, class: "chart-bar", rx: 3}),
      h("svg:text", {x: labelWidth + Math.max(length, 1) + 6, y: y + 17, class: "chart-value"},
        `${row.gross} ${row.currency} (${row.count})`));
  });
  return h("figure", {class: "chart-wrap"}, svg,
    h("figcaption", {}, "Bars: gross credited per group; in brackets, how many appeasements."));
}
