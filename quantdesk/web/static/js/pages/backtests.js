// #/backtests: stored backtest runs (quantdesk backtest, quantdesk.backtest()). The list
// of runs; one run (#/backtests?id=...): its statistics beside equal-weight
// buy-and-hold, the equity curve against buy-and-hold, the drawdowns, the settings
// and the trade list. Text nodes only (dom.js).

import { api } from "../api.js";
import { LWC, describeGeometry, formatTime, makeChart } from "../charts.js";
import { fmt, h, replace } from "../dom.js";
import { currentRoute, setParams } from "../route.js";

const ZONES = { cn: "Asia/Shanghai", us: "America/New_York" };
const ROWS = [
  ["total_return", "total return", "pct"],
  ["annual_return", "annual return", "pct"],
  ["sharpe", "Sharpe", 2],
  ["max_drawdown", "max drawdown", "pct"],
  ["turnover", "turnover", 2],
  ["fees", "fees", 2],
  ["trades", "fills", 0],
  ["win_rate", "win rate", "pct"],
];

function show(value, how) {
  if (value === null || value === undefined) return "–";
  if (how === "pct") return `${fmt(value * 100, 2)}%`;
  return fmt(value, how);
}

function day(ms, zone) {
  return ms === null || ms === undefined ? "start" : formatTime(Math.floor(ms / 1000), zone).slice(0, 10);
}

export function mount(root) {
  const error = h("p", { class: "error", role: "alert", id: "backtests-error" });
  const runsBody = h("tbody", { id: "runs-rows" });
  const detail = h("section", { id: "run-detail" });
  const page = h(
    "section",
    { class: "backtests", id: "backtests-page" },
    h("div", { class: "toolbar" }, h("h2", {}, "Backtests")),
    error,
    h(
      "section",
      { class: "card scroll runs" },
      h("h3", {}, "Runs"),
      h(
        "table",
        { id: "runs-table", class: "grid" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["run", "created", "strategy", "market", "interval", "range", "symbols", "total return", "buy & hold", "Sharpe", "max drawdown", "fills"].map(
              (x) => h("th", {}, x),
            ),
          ),
        ),
        runsBody,
      ),
    ),
    detail,
  );
  replace(root, page);
  let disposed = false;
  let charts = [];

  function dropCharts() {
    for (const c of charts) c.remove();
    charts = [];
  }

  async function loadRuns() {
    const runs = await api("/api/v2/backtests", { query: { limit: 200 } });
    if (disposed) return [];
    page.dataset.runs = String(runs.length);
    replace(
      runsBody,
      runs.length
        ? runs.map((r) => {
            const zone = ZONES[r.market] || "UTC";
            return h(
              "tr",
              { class: "run-row", dataset: { id: r.id }, onclick: () => open(r.id) },
              h("td", {}, h("a", { href: `#/backtests?id=${encodeURIComponent(r.id)}`, class: "run-link", onclick: (e) => { e.preventDefault(); open(r.id); } }, r.id)),
              h("td", { class: "nowrap" }, formatTime(Math.floor(r.created / 1000), zone)),
              h("td", {}, r.strategy),
              h("td", {}, r.market),
              h("td", {}, r.interval),
              h("td", { class: "nowrap" }, `${day(r.start, zone)} – ${r.end === null ? "end" : day(r.end, zone)}`),
              h("td", { class: "num" }, fmt(r.symbols, 0)),
              h("td", { class: "num" }, show(r.stats.total_return, "pct")),
              h("td", { class: "num" }, show(r.buy_and_hold.total_return, "pct")),
              h("td", { class: "num" }, show(r.stats.sharpe, 2)),
              h("td", { class: "num" }, show(r.stats.max_drawdown, "pct")),
              h("td", { class: "num" }, fmt(r.stats.trades, 0)),
            );
          })
        : h(
            "tr",
            {},
            h(
              "td",
              { colspan: 12, class: "muted" },
              "No backtest stored yet: run `quantdesk backtest --strategy ma_cross` or quantdesk.backtest(...).",
            ),
          ),
    );
    return runs;
  }

  function lineChart(el, zone, series) {
    const chart = makeChart(el, zone);
    charts.push(chart);
    for (const { title, color, points } of series) {
      chart.addSeries(LWC.LineSeries, { color, lineWidth: 2, title }).setData(points);
    }
    chart.timeScale().fitContent();
    el.dataset.points = String(series[0]?.points.length ?? 0);
    describeGeometry(chart, el, series[0]?.points ?? []);
    return chart;
  }

  function points(times, values) {
    const out = [];
    for (let i = 0; i < times.length; i += 1) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      const t = Math.floor(times[i] / 1000);
      if (out.length && out[out.length - 1].time >= t) continue;
      out.push({ time: t, value: v });
    }
    return out;
  }

  async function open(id) {
    setParams({ id });
    error.textContent = "";
    for (const tr of runsBody.querySelectorAll("tr.run-row")) tr.classList.toggle("active", tr.dataset.id === id);
    let run;
    try {
      run = await api(`/api/v2/backtests/${encodeURIComponent(id)}`, { query: { fills_limit: 500 } });
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    if (disposed) return;
    dropCharts();
    const zone = ZONES[run.market] || "UTC";
    const bh = run.stats.buy_and_hold || {};
    const statsBody = h(
      "tbody",
      {},
      ROWS.map(([key, label, how]) =>
        h(
          "tr",
          { dataset: { stat: key } },
          h("th", {}, label),
          h("td", { class: "num" }, show(run.stats[key], how)),
          h("td", { class: "num" }, show(bh[key], how)),
        ),
      ),
    );
    const equityEl = h("div", { id: "bt-equity-chart", class: "chart small-chart" });
    const ddEl = h("div", { id: "bt-drawdown-chart", class: "chart small-chart" });
    const settings = Object.entries(run.settings || {}).filter(([, v]) => typeof v !== "object" || v === null);
    const nested = Object.entries(run.settings || {}).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v));
    const tradesBody = h(
      "tbody",
      { id: "trades-rows" },
      run.fills.length
        ? run.fills.map((f) =>
            h(
              "tr",
              {},
              h("td", { class: "nowrap" }, formatTime(Math.floor(f.time / 1000), zone)),
              h("td", {}, f.symbol),
              h("td", { class: `side ${f.side}` }, f.side),
              h("td", { class: "num" }, fmt(f.quantity, 0)),
              h("td", { class: "num" }, fmt(f.price, 2)),
              h("td", { class: "num" }, fmt(f.commission)),
              h("td", { class: "num" }, fmt(f.stamp_duty)),
              h("td", { class: "num" }, fmt(f.transfer_fee)),
            ),
          )
        : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No trade.")),
    );
    replace(
      detail,
      h(
        "section",
        { class: "card", id: "run-summary", dataset: { id: run.id } },
        h("h3", {}, `Run ${run.id}: ${run.strategy} on ${run.market} ${run.interval}, ${fmt(run.symbols, 0)} symbols`),
        h(
          "div",
          { class: "columns" },
          h(
            "table",
            { id: "run-stats", class: "grid narrow" },
            h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, run.strategy), h("th", {}, "buy & hold"))),
            statsBody,
          ),
        ),
        h(
          "details",
          { class: "settings" },
          h("summary", {}, "Settings of the run (fees, limits, fill model, risk limits, parameters)"),
          h(
            "dl",
            { id: "run-settings", class: "kv wide" },
            settings.flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, String(v))]),
            nested.flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, JSON.stringify(v))]),
          ),
        ),
      ),
      h(
        "div",
        { class: "columns" },
        h("section", { class: "card grow" }, h("h3", {}, "Equity against buy-and-hold"), equityEl),
        h("section", { class: "card grow" }, h("h3", {}, "Drawdown"), ddEl),
      ),
      h(
        "section",
        { class: "card scroll" },
        h("h3", {}, `Trades (${fmt(run.fills.length, 0)} of ${fmt(run.fills_total, 0)})`),
        h(
          "table",
          { id: "trades-table", class: "grid" },
          h("thead", {}, h("tr", {}, ["time", "symbol", "side", "qty", "price", "commission", "stamp duty", "transfer"].map((x) => h("th", {}, x)))),
          tradesBody,
        ),
      ),
    );
    const c = run.curve;
    lineChart(equityEl, zone, [
      { title: run.strategy, color: "#f0b429", points: points(c.time, c.equity) },
      { title: "buy & hold", color: "#58a6ff", points: points(c.time, c.buy_and_hold) },
    ]);
    lineChart(ddEl, zone, [
      { title: `${run.strategy} drawdown`, color: "#ef5350", points: points(c.time, c.drawdown) },
      { title: "buy & hold drawdown", color: "#8593a3", points: points(c.time, c.buy_and_hold_drawdown) },
    ]);
    detail.dataset.trades = String(run.fills.length);
    page.dataset.open = run.id;
  }

  loadRuns()
    .then((runs) => {
      const asked = currentRoute().params.get("id");
      if (asked) open(asked);
      else if (runs.length) open(runs[0].id);
    })
    .catch((err) => {
      error.textContent = err.message;
    });
  return () => {
    disposed = true;
    dropCharts();
  };
}
