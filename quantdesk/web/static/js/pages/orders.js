// #/orders: the paper account of quantdesk run. Account figures, the equity curve,
// positions, open orders (cancel: admin), fills, the risk engine's state, limits and
// alerts, and an order ticket (admin). REST for the tables (/api/v2/trading/...,
// /api/v2/risk/...), live updates over /ws/orders and /ws/risk-alerts. Everything
// from the server goes in as text nodes (dom.js).

import { api, channel, session } from "../api.js";
import { LWC, describeGeometry, formatTime, makeChart, toTime, zoneOf, zoneOptions } from "../charts.js";
import { fmt, h, replace, statusBadge } from "../dom.js";

const STATES = ["active", "reducing", "halted"];

function card(id, label) {
  const value = h("div", { class: "value", id }, "–");
  const sub = h("div", { class: "sub muted small" });
  return { el: h("div", { class: "stat card" }, h("div", { class: "label" }, label), value, sub), value, sub };
}

function table(id, headers, body) {
  return h(
    "table",
    { id, class: "grid" },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    body,
  );
}

function empty(cols, text) {
  return h("tr", { class: "empty" }, h("td", { colspan: cols, class: "muted" }, text));
}

export function mount(root) {
  const admin = session.isAdmin();
  let zone = "UTC";
  const when = (ms) => (ms ? formatTime(Math.floor(ms / 1000), zone, true) : "–");

  const cards = {
    equity: card("acct-equity", "Equity"),
    cash: card("acct-cash", "Cash"),
    available: card("acct-available", "Available cash"),
    value: card("acct-market-value", "Market value"),
    pnl: card("acct-pnl", "P&L"),
    state: card("risk-state", "Trading state"),
  };
  const status = statusBadge();
  const error = h("p", { class: "error", role: "alert", id: "orders-error" });
  const chartEl = h("div", { id: "equity-chart", class: "chart small-chart" });
  const positionsBody = h("tbody", { id: "positions-rows" });
  const openBody = h("tbody", { id: "open-orders-rows" });
  const ordersBody = h("tbody", { id: "orders-rows" });
  const fillsBody = h("tbody", { id: "fills-rows" });
  const alertsList = h("ol", { id: "risk-alerts", class: "alerts" });
  const limitsEl = h("dl", { id: "risk-limits", class: "kv" });
  const denialsEl = h("dl", { id: "risk-denials", class: "kv" });
  const ticketMsg = h("p", { id: "ticket-result", class: "msg", role: "status" });
  const stateMsg = h("span", { id: "state-result", class: "msg small" });

  // -- the order ticket (admin) -----------------------------------------------------
  const symbolList = h("datalist", { id: "ticket-symbols" });
  const tSymbol = h("input", {
    id: "ticket-symbol",
    list: "ticket-symbols",
    placeholder: "600036.SH",
    maxlength: 32,
    required: true,
    "aria-label": "symbol",
  });
  const tSide = h(
    "select",
    { id: "ticket-side", "aria-label": "side" },
    h("option", { value: "buy" }, "buy"),
    h("option", { value: "sell" }, "sell"),
  );
  const tQty = h("input", {
    id: "ticket-quantity",
    type: "number",
    min: 1,
    step: 1,
    value: 100,
    required: true,
    "aria-label": "quantity",
  });
  const tType = h(
    "select",
    { id: "ticket-type", "aria-label": "type" },
    h("option", { value: "market" }, "market"),
    h("option", { value: "limit" }, "limit"),
  );
  const tLimit = h("input", {
    id: "ticket-limit",
    type: "number",
    min: 0.01,
    step: 0.01,
    placeholder: "limit price",
    disabled: true,
    "aria-label": "limit price",
  });
  tType.addEventListener("change", () => {
    tLimit.disabled = tType.value !== "limit";
  });
  const ticket = admin
    ? h(
        "form",
        { id: "order-ticket", class: "ticket toolbar" },
        h("h3", {}, "Order ticket"),
        tSymbol,
        symbolList,
        tSide,
        tQty,
        tType,
        tLimit,
        h("button", { type: "submit", id: "ticket-submit" }, "Place order"),
        ticketMsg,
      )
    : h("p", { class: "muted small", id: "ticket-readonly" }, "Orders are placed by an admin.");

  const stateButtons = admin
    ? h(
        "div",
        { class: "segmented", id: "state-buttons" },
        STATES.map((s) =>
          h("button", { type: "button", class: "seg", dataset: { state: s }, onclick: () => setState(s) }, s),
        ),
      )
    : null;

  const page = h(
    "section",
    { class: "orders", id: "orders-page" },
    h("div", { class: "toolbar" }, h("h2", {}, "Orders & positions"), status.el, h("span", { id: "account-source", class: "muted small" })),
    error,
    h("div", { class: "stats" }, Object.values(cards).map((c) => c.el)),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card grow" }, h("h3", {}, "Equity"), chartEl),
      h(
        "section",
        { class: "card risk" },
        h("h3", {}, "Risk"),
        h("div", { class: "toolbar" }, stateButtons, stateMsg),
        h("h4", {}, "Limits"),
        limitsEl,
        h("h4", {}, "Denied orders by reason"),
        denialsEl,
      ),
    ),
    h("section", { class: "card" }, ticket),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card grow" }, h("h3", {}, "Positions"), table("positions-table", ["symbol", "quantity", "sellable", "avg cost", "last", "value", "unrealised", "realised"], positionsBody)),
      h("section", { class: "card grow" }, h("h3", {}, "Open orders"), table("open-orders-table", ["created", "symbol", "side", "type", "qty", "filled", "limit", "status", ""], openBody)),
    ),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card grow scroll" }, h("h3", {}, "Fills"), table("fills-table", ["time", "symbol", "side", "qty", "price", "commission", "stamp duty", "transfer"], fillsBody)),
      h("section", { class: "card grow scroll" }, h("h3", {}, "Risk alerts"), alertsList),
    ),
    h(
      "section",
      { class: "card scroll" },
      h("h3", {}, "Orders"),
      table("orders-table", ["created", "symbol", "side", "type", "qty", "filled", "avg price", "status", "reason"], ordersBody),
    ),
  );
  replace(root, page);

  const chart = makeChart(chartEl, zone);
  const equityLine = chart.addSeries(LWC.LineSeries, { color: "#f0b429", lineWidth: 2, title: "equity" });
  let disposed = false;
  let counters = { orders: 0, fills: 0, alerts: 0, updates: 0 };

  function mark() {
    page.dataset.orders = String(counters.orders);
    page.dataset.fills = String(counters.fills);
    page.dataset.alerts = String(counters.alerts);
    page.dataset.updates = String(counters.updates);
  }

  function side(s) {
    return h("td", { class: `side ${s}` }, s);
  }

  function orderRow(o, withCancel) {
    const cells = [
      h("td", { class: "nowrap" }, when(o.created)),
      h("td", {}, o.symbol),
      side(o.side),
      h("td", {}, o.order_type),
      h("td", { class: "num" }, fmt(o.quantity, 0)),
      h("td", { class: "num" }, fmt(o.filled_quantity, 0)),
    ];
    if (withCancel) {
      cells.push(h("td", { class: "num" }, fmt(o.limit_price, 2)));
      cells.push(h("td", {}, o.status));
      cells.push(
        h(
          "td",
          {},
          admin
            ? h("button", { type: "button", class: "cancel link", dataset: { id: o.id }, onclick: () => cancel(o.id) }, "Cancel")
            : null,
        ),
      );
    } else {
      cells.push(h("td", { class: "num" }, fmt(o.average_price, 2)));
      cells.push(h("td", { class: `status-${o.status}` }, o.status));
      cells.push(h("td", { class: "reason" }, o.reason || ""));
    }
    return h("tr", { dataset: { id: o.id } }, cells);
  }

  async function loadAccount() {
    const [acct, positions] = await Promise.all([
      api("/api/v2/trading/account"),
      api("/api/v2/trading/positions"),
    ]);
    if (disposed) return;
    cards.equity.value.textContent = fmt(acct.equity);
    cards.equity.sub.textContent = acct.currency;
    cards.cash.value.textContent = fmt(acct.cash);
    cards.cash.sub.textContent = `initial ${fmt(acct.initial_cash)}`;
    cards.available.value.textContent = fmt(acct.available_cash);
    cards.available.sub.textContent = `frozen ${fmt(acct.frozen_cash)}`;
    cards.value.value.textContent = fmt(acct.market_value);
    cards.pnl.value.textContent = fmt(acct.pnl);
    cards.pnl.value.className = `value ${acct.pnl > 0 ? "up" : acct.pnl < 0 ? "down" : ""}`;
    page.dataset.equity = String(acct.equity);
    page.querySelector("#account-source").textContent =
      acct.source === "live" ? "live account" : "from the store (nothing trades in this process)";
    replace(
      positionsBody,
      positions.length
        ? positions.map((p) =>
            h(
              "tr",
              { dataset: { symbol: p.symbol } },
              h("td", {}, p.symbol),
              h("td", { class: "num" }, fmt(p.quantity, 0)),
              h("td", { class: "num" }, fmt(p.sellable_quantity, 0)),
              h("td", { class: "num" }, fmt(p.average_cost, 3)),
              h("td", { class: "num" }, fmt(p.last_price, 2)),
              h("td", { class: "num" }, fmt(p.market_value)),
              h("td", { class: "num" }, fmt(p.unrealised_pnl)),
              h("td", { class: "num" }, fmt(p.realised_pnl)),
            ),
          )
        : empty(8, "No position."),
    );
    page.dataset.positions = String(positions.length);
  }

  async function loadOrders() {
    const [open, orders, fills] = await Promise.all([
      api("/api/v2/trading/orders", { query: { status: "open", limit: 200 } }),
      api("/api/v2/trading/orders", { query: { limit: 100 } }),
      api("/api/v2/trading/fills", { query: { limit: 100 } }),
    ]);
    if (disposed) return;
    replace(openBody, open.length ? open.map((o) => orderRow(o, true)) : empty(9, "No open order."));
    replace(
      ordersBody,
      orders.length ? orders.slice().reverse().map((o) => orderRow(o, false)) : empty(9, "No order yet."),
    );
    replace(
      fillsBody,
      fills.length
        ? fills
            .slice()
            .reverse()
            .map((f) =>
              h(
                "tr",
                { dataset: { id: f.id } },
                h("td", { class: "nowrap" }, when(f.time)),
                h("td", {}, f.symbol),
                side(f.side),
                h("td", { class: "num" }, fmt(f.quantity, 0)),
                h("td", { class: "num" }, fmt(f.price, 2)),
                h("td", { class: "num" }, fmt(f.commission)),
                h("td", { class: "num" }, fmt(f.stamp_duty)),
                h("td", { class: "num" }, fmt(f.transfer_fee)),
              ),
            )
        : empty(8, "No fill yet."),
    );
    counters.orders = orders.length;
    counters.fills = fills.length;
    page.dataset.open = String(open.length);
    mark();
  }

  async function loadEquity() {
    const rows = await api("/api/v2/trading/equity", { query: { limit: 2000 } });
    if (disposed) return;
    const points = [];
    for (const r of rows) {
      const t = toTime(r.time);
      if (points.length && points[points.length - 1].time >= t) continue;
      points.push({ time: t, value: r.equity });
    }
    equityLine.setData(points);
    chart.timeScale().fitContent();
    chartEl.dataset.points = String(points.length);
    describeGeometry(chart, chartEl, points);
  }

  function alertItem(a) {
    return h(
      "li",
      { class: `alert ${a.kind}`, dataset: { id: a.id, kind: a.kind } },
      h("span", { class: "nowrap muted small" }, when(a.time)),
      " ",
      h("span", { class: "tag" }, a.kind),
      " ",
      h("span", { class: "message" }, a.message),
    );
  }

  async function loadRisk() {
    const [risk, alerts] = await Promise.all([
      api("/api/v2/risk/limits"),
      api("/api/v2/risk/alerts", { query: { limit: 100 } }),
    ]);
    if (disposed) return;
    showRisk(risk);
    replace(alertsList, alerts.length ? alerts.slice().reverse().map(alertItem) : h("li", { class: "muted empty" }, "No alert."));
    counters.alerts = alerts.length;
    mark();
  }

  function showRisk(risk) {
    cards.state.value.textContent = risk.state;
    cards.state.value.className = `value state-${risk.state}`;
    cards.state.sub.textContent = risk.set_by_admin ? "set by an admin" : "automatic";
    page.dataset.state = risk.state;
    for (const b of page.querySelectorAll("#state-buttons .seg")) {
      b.classList.toggle("active", b.dataset.state === risk.state);
    }
    replace(
      limitsEl,
      Object.entries(risk.limits).flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, String(v))]),
    );
    const denials = Object.entries(risk.denials || {});
    replace(
      denialsEl,
      denials.length ? denials.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]) : h("dd", { class: "muted" }, "none"),
    );
  }

  async function refresh(what = ["account", "orders", "equity", "risk"]) {
    try {
      const jobs = [];
      if (what.includes("account")) jobs.push(loadAccount());
      if (what.includes("orders")) jobs.push(loadOrders());
      if (what.includes("equity")) jobs.push(loadEquity());
      if (what.includes("risk")) jobs.push(loadRisk());
      await Promise.all(jobs);
    } catch (err) {
      if (!disposed) error.textContent = err.message;
    }
  }

  // a burst of order and fill messages reloads the tables once
  let pending = null;
  function soon(what) {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh(what);
    }, 250);
  }

  async function cancel(id) {
    ticketMsg.textContent = "";
    try {
      const o = await api(`/api/v2/trading/orders/${encodeURIComponent(id)}`, { method: "DELETE" });
      ticketMsg.textContent = `Order ${o.id} ${o.status}.`;
      refresh(["orders", "account"]);
    } catch (err) {
      ticketMsg.textContent = err.message;
    }
  }

  async function setState(state) {
    stateMsg.textContent = "";
    try {
      const risk = await api("/api/v2/risk/state", { method: "PUT", body: { state, reason: "set on the dashboard" } });
      showRisk(risk);
      stateMsg.textContent = `State ${risk.state}.`;
    } catch (err) {
      stateMsg.textContent = err.message;
    }
  }

  if (admin) {
    ticket.addEventListener("submit", async (event) => {
      event.preventDefault();
      ticketMsg.textContent = "";
      ticketMsg.className = "msg";
      const body = {
        symbol: tSymbol.value.trim(),
        side: tSide.value,
        quantity: Number(tQty.value),
        type: tType.value,
      };
      if (tType.value === "limit") body.limit_price = tLimit.value ? Number(tLimit.value) : null;
      try {
        const o = await api("/api/v2/trading/orders", { method: "POST", body });
        ticketMsg.textContent = `Order ${o.id}: ${o.status} (${o.side} ${fmt(o.quantity, 0)} ${o.symbol}).`;
        ticketMsg.className = "msg ok";
        refresh(["orders", "account", "risk"]);
      } catch (err) {
        ticketMsg.textContent = err.message;
        ticketMsg.className = "msg refused";
      }
    });
  }

  api("/api/symbols")
    .then((symbols) => {
      if (disposed) return;
      zone = zoneOf(symbols[0]);
      if (symbols[0]?.market) page.classList.add(`market-${symbols[0].market}`);
      chart.applyOptions(zoneOptions(zone));
      replace(symbolList, symbols.map((m) => h("option", { value: m.symbol }, m.name || m.symbol)));
      refresh();
    })
    .catch(() => refresh());

  const orders = channel("orders", {
    onMessage: (type) => {
      if (type !== "order" && type !== "fill") return;
      counters.updates += 1;
      mark();
      soon(["orders", "account", "equity"]);
    },
    onStatus: (s) => status.show(s),
  });
  const alerts = channel("risk-alerts", {
    onMessage: (type, data) => {
      if (type !== "risk_alert" || disposed) return;
      const placeholder = alertsList.querySelector(".empty");
      if (placeholder) placeholder.remove();
      alertsList.prepend(alertItem(data));
      counters.alerts += 1;
      mark();
      if (data.kind === "state" || data.kind === "breach") loadRisk().catch(() => {});
    },
  });
  // the account is revalued at each step of the strategy's bars: a slow refresh too
  const timer = setInterval(() => refresh(["account", "equity"]), 5000);
  mark();
  return () => {
    disposed = true;
    clearInterval(timer);
    clearTimeout(pending);
    orders.close();
    alerts.close();
    chart.remove();
  };
}
