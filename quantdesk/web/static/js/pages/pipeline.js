// #/pipeline: ingest and bar rates, event lag, WebSocket fan-out and rejected
// messages, live from /ws/stream-metrics and /ws/pipeline-status (each once a second).

import { api, channel } from "../api.js";
import { LWC, describeGeometry, makeChart } from "../charts.js";
import { fmt, h, replace, statusBadge } from "../dom.js";

const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const HISTORY = 600;

function card(id, label) {
  const value = h("div", { class: "value", id }, "–");
  const sub = h("div", { class: "sub muted small" });
  return { el: h("div", { class: "stat card" }, h("div", { class: "label" }, label), value, sub), value, sub };
}

export function mount(root) {
  const cards = {
    trades: card("stat-trades-rate", "Trades / s"),
    bars: card("stat-bars-rate", "Bar writes / s"),
    lag: card("stat-lag", "Event lag"),
    rejects: card("stat-rejects", "Rejected messages"),
    clients: card("stat-ws-clients", "WebSocket clients"),
    drops: card("stat-ws-drops", "WebSocket drops"),
  };
  const runtimeEl = h("dl", { id: "runtime", class: "kv" });
  const rejectsBody = h("tbody");
  const chartEl = h("div", { id: "rates-chart", class: "chart small-chart" });
  const status = statusBadge();
  const error = h("p", { class: "error", role: "alert" });
  const page = h(
    "section",
    { class: "pipeline", id: "pipeline" },
    h("div", { class: "toolbar" }, h("h2", {}, "Pipeline"), status.el),
    error,
    h("div", { class: "stats" }, Object.values(cards).map((c) => c.el)),
    h(
      "div",
      { class: "columns" },
      h("section", { class: "card grow" }, h("h3", {}, "Rates"), chartEl),
      h("section", { class: "card" }, h("h3", {}, "Runtime"), runtimeEl),
    ),
    h(
      "section",
      { class: "card" },
      h("h3", {}, "Rejected messages by reason"),
      h(
        "table",
        { id: "rejects-table", class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "reason"), h("th", {}, "this process"), h("th", {}, "stored"))),
        rejectsBody,
      ),
    ),
  );
  replace(root, page);

  const chart = makeChart(chartEl, LOCAL_ZONE, { seconds: true });
  const tradesLine = chart.addSeries(LWC.LineSeries, { color: "#f0b429", lineWidth: 2, title: "trades/s" });
  const barsLine = chart.addSeries(
    LWC.LineSeries,
    { color: "#58a6ff", lineWidth: 2, title: "bar writes/s", priceScaleId: "left" },
  );
  chart.applyOptions({ leftPriceScale: { visible: true, borderColor: "#2a3340" } });

  let disposed = false;
  let previous = null;
  let samples = 0;
  const points = { trades: [], bars: [] };

  function onMetrics(m) {
    if (disposed) return;
    const now = performance.now();
    const t = Math.floor(Date.now() / 1000);
    if (previous) {
      const dt = (now - previous.at) / 1000;
      const tradesRate = Math.max(0, (m.trades - previous.trades) / dt);
      const barsRate = Math.max(0, (m.bars_written - previous.bars_written) / dt);
      cards.trades.value.textContent = fmt(tradesRate, 0);
      cards.bars.value.textContent = fmt(barsRate, 1);
      for (const [key, series, value] of [
        ["trades", tradesLine, tradesRate],
        ["bars", barsLine, barsRate],
      ]) {
        const list = points[key];
        if (list.length && list[list.length - 1].time === t) continue;
        list.push({ time: t, value });
        if (list.length > HISTORY) list.shift();
        series.update({ time: t, value });
      }
      // the whole history across the whole width (it starts with one point a second)
      if (points.trades.length <= HISTORY) chart.timeScale().fitContent();
      describeGeometry(chart, chartEl, points.trades);
    }
    previous = { at: now, trades: m.trades, bars_written: m.bars_written };
    cards.trades.sub.textContent = `${fmt(m.trades, 0)} in total`;
    cards.bars.sub.textContent = `${fmt(m.bars_written, 0)} written, ${fmt(m.bars_closed, 0)} closed`;
    cards.lag.value.textContent = m.event_lag_s === null ? "–" : `${fmt(m.event_lag_s, 1)} s`;
    cards.lag.sub.textContent = "clock time minus event time";
    const live = Object.values(m.rejects || {}).reduce((a, b) => a + b, 0);
    cards.rejects.value.textContent = fmt(live, 0);
    cards.rejects.sub.textContent = "this process";
    const clients = Object.values(m.ws_clients || {}).reduce((a, b) => a + b, 0);
    cards.clients.value.textContent = fmt(clients, 0);
    cards.clients.sub.textContent = `${fmt(m.ws_messages, 0)} messages published`;
    cards.drops.value.textContent = fmt(m.ws_dropped_messages, 0);
    cards.drops.sub.textContent = "oldest dropped for slow clients";
    samples += 1;
    page.dataset.samples = String(samples);
    page.dataset.trades = String(m.trades);
  }

  function onStatus(s) {
    if (disposed) return;
    const rows = [
      ["mode", "embedded (live market)"],
      ["market", s.market],
      ["clock", s.clock],
      ["speed", `${s.speed}x`],
      ["event time", s.sim_time],
      ["uptime", `${fmt(s.uptime_s, 0)} s`],
    ];
    replace(runtimeEl, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]));
  }

  async function loadRejects() {
    try {
      const r = await api("/api/rejects");
      const reasons = [...new Set([...Object.keys(r.live), ...Object.keys(r.stored)])].sort();
      replace(
        rejectsBody,
        reasons.length
          ? reasons.map((reason) =>
              h(
                "tr",
                {},
                h("td", {}, reason),
                h("td", { class: "num" }, fmt(r.live[reason] || 0, 0)),
                h("td", { class: "num" }, fmt(r.stored[reason] || 0, 0)),
              ),
            )
          : h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No message rejected.")),
      );
    } catch (err) {
      error.textContent = err.message;
    }
  }

  api("/api/v2/system/status")
    .then((s) => {
      if (s.runtime) onStatus(s.runtime);
      else replace(runtimeEl, h("dt", {}, "mode"), h("dd", {}, "API only (quantdesk serve): no live market"));
    })
    .catch((err) => {
      error.textContent = err.message;
    });
  loadRejects();
  const timer = setInterval(loadRejects, 5000);
  const metrics = channel("stream-metrics", {
    onMessage: (type, data) => type === "stream_metrics" && onMetrics(data),
    onStatus: (s) => {
      status.show(s);
    },
  });
  const pipeline = channel("pipeline-status", {
    onMessage: (type, data) => type === "pipeline_status" && onStatus(data),
  });
  return () => {
    disposed = true;
    clearInterval(timer);
    metrics.close();
    pipeline.close();
    chart.remove();
  };
}
