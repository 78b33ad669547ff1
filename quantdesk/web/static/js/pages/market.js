// #/market: candlesticks and volume with live updates and signal markers, and
// the factor panel (seed A's picture): OBI with its buy/sell thresholds over
// the microprice and mid, the thresholds editable by admins.

import { api, channel, session } from "../api.js";
import {
  LWC,
  candleColors,
  describeGeometry,
  floorIndex,
  formatTime,
  lineData,
  makeChart,
  mergePoint,
  toTime,
  zoneOf,
  zoneOptions,
} from "../charts.js";
import { fmt, h, replace, statusBadge } from "../dom.js";
import { setParams } from "../route.js";
import { predictionMarkers } from "./models.js";
import { pickInitial, symbolPicker } from "./symbols.js";

export const INTERVALS = ["1m", "5m", "15m", "30m", "60m", "120m", "1d", "1w", "1M"];
// What each button says when asked (1M is a month, 1m a minute).
const INTERVAL_TITLES = { "1d": "one trading day", "1w": "the trading days of an ISO week", "1M": "the trading days of a calendar month" };
const BAR_LIMIT = 1000;
const FACTOR_LIMIT = 1500;
const SIGNAL_LIMIT = 500;
const PANEL_FACTORS = ["obi", "obi_weighted"];
const BUY = "#26a69a";
const SELL = "#ef5350";

function barPoint(row) {
  return {
    time: toTime(row.time),
    open: row.open,
    high: row.high,
    low: row.low,
    close: row.close,
    volume: row.volume,
  };
}

function volumePoint(bar, market) {
  const up = bar.close >= bar.open;
  const rising = market === "cn" ? "rgba(239,83,80,0.45)" : "rgba(38,166,154,0.45)";
  const falling = market === "cn" ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)";
  return { time: bar.time, value: bar.volume, color: up ? rising : falling };
}

/** The thresholds of a rule whichever form it uses (buy_above/sell_below or the mirror). */
export function thresholds(rule) {
  const mirror = rule.buy_above == null && rule.buy_below != null;
  return {
    mirror,
    buy: mirror ? rule.buy_below : rule.buy_above,
    sell: mirror ? rule.sell_above : rule.sell_below,
  };
}

function applies(rule, factor, symbol) {
  return (
    rule.factor === factor &&
    (!rule.symbol || rule.symbol === "*" || rule.symbol === symbol) &&
    !rule.interval
  );
}

export function mount(root, { params }) {
  const admin = session.isAdmin();
  const asked = { interval: params.get("interval"), factor: params.get("factor") };
  const notes = [];
  if (asked.interval !== null && !INTERVALS.includes(asked.interval)) {
    notes.push(`Unknown interval "${asked.interval}" in the address: showing 1m (use ${INTERVALS.join(", ")}).`);
  }
  if (asked.factor !== null && !PANEL_FACTORS.includes(asked.factor)) {
    notes.push(`Unknown factor "${asked.factor}" in the address: showing obi.`);
  }
  const state = {
    symbols: [],
    meta: null,
    symbol: params.get("symbol"),
    interval: INTERVALS.includes(asked.interval) ? asked.interval : "1m",
    factor: PANEL_FACTORS.includes(asked.factor) ? asked.factor : "obi",
    bars: [],
    signals: [],
    predictionMarkers: [],
    rules: [],
    factorPoints: { main: [], micro: [], mid: [] },
    updates: 0,
    gen: 0,
    notes: {}, // rule id -> a message to show once the rules are redrawn
  };

  // -- layout -------------------------------------------------------------------
  const status = statusBadge();
  const picker = symbolPicker((symbol) => selectSymbol(symbol));
  const intervalButtons = INTERVALS.map((iv) =>
    h(
      "button",
      {
        class: "seg",
        id: `interval-${iv}`,
        title: INTERVAL_TITLES[iv] || `${iv} bars`,
        dataset: { interval: iv },
        onclick: () => selectInterval(iv),
      },
      iv,
    ),
  );
  const legend = h("div", { id: "legend", class: "legend" });
  const priceEl = h("div", { id: "price-chart", class: "chart price" });
  const factorSelect = h(
    "select",
    { id: "factor-select", onchange: () => selectFactor(factorSelect.value) },
    PANEL_FACTORS.map((f) => h("option", { value: f }, f)),
  );
  factorSelect.value = state.factor;
  const factorLegend = h("span", { id: "factor-legend", class: "legend small" });
  const factorEl = h("div", { id: "factor-chart", class: "chart factor" });
  const rulesEl = h("div", { id: "thresholds", class: "thresholds" });
  const signalsBody = h("tbody");
  const error = h("p", { class: "error", id: "market-error", role: "alert" });
  const notice = h("p", { class: "notice", id: "route-notice", role: "status" }, notes.join(" "));

  replace(
    root,
    h(
      "section",
      { class: "market" },
      h(
        "div",
        { class: "toolbar" },
        picker.element,
        h("div", { class: "segmented", role: "group", "aria-label": "interval" }, intervalButtons),
        status.el,
      ),
      notice,
      error,
      legend,
      priceEl,
      h(
        "section",
        { class: "card factor-panel" },
        h(
          "header",
          {},
          h("h3", {}, "Factors"),
          factorSelect,
          h("span", { class: "muted small" }, "over microprice and mid (order book, top 5 levels)"),
          factorLegend,
        ),
        factorEl,
        rulesEl,
      ),
      h(
        "section",
        { class: "card" },
        h("h3", {}, "Recent signals"),
        h(
          "table",
          { id: "signals-table", class: "grid" },
          h(
            "thead",
            {},
            h("tr", {}, ["time", "side", "rule", "factor", "value"].map((c) => h("th", {}, c))),
          ),
          signalsBody,
        ),
      ),
    ),
  );

  // -- charts -------------------------------------------------------------------
  const chart = makeChart(priceEl, "UTC");
  const candles = chart.addSeries(LWC.CandlestickSeries, candleColors("cn"));
  const volume = chart.addSeries(LWC.HistogramSeries, {
    priceFormat: { type: "volume" },
    priceScaleId: "volume",
    lastValueVisible: false,
    priceLineVisible: false,
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  chart.priceScale("right").applyOptions({ scaleMargins: { top: 0.06, bottom: 0.24 } });
  const priceMarkers = LWC.createSeriesMarkers(candles, []);
  chart.subscribeCrosshairMove((param) => {
    const bar = param.time === undefined ? null : param.seriesData.get(candles);
    showLegend(bar ? { ...bar, volume: param.seriesData.get(volume)?.value } : null);
  });

  const factorChart = makeChart(factorEl, "UTC", { seconds: true });
  const mainLine = factorChart.addSeries(
    LWC.LineSeries,
    { color: "#f0b429", lineWidth: 2, title: state.factor, priceLineVisible: false },
    0,
  );
  const microLine = factorChart.addSeries(
    LWC.LineSeries,
    { color: "#58a6ff", lineWidth: 2, title: "microprice", priceLineVisible: false },
    1,
  );
  const midLine = factorChart.addSeries(
    LWC.LineSeries,
    { color: "#8b949e", lineWidth: 1, lineStyle: 2, title: "mid", priceLineVisible: false },
    1,
  );
  const factorMarkers = LWC.createSeriesMarkers(mainLine, []);
  let priceLines = [];
  let levels = [];
  // Keep the thresholds in view even when the factor never reaches them.
  mainLine.applyOptions({
    autoscaleInfoProvider: (original) => {
      const res = original();
      if (res === null || !levels.length) return res;
      const range = res.priceRange;
      range.minValue = Math.min(range.minValue, ...levels);
      range.maxValue = Math.max(range.maxValue, ...levels);
      return res;
    },
  });

  // -- rendering ----------------------------------------------------------------
  function showLegend(bar) {
    const last = bar || state.bars[state.bars.length - 1];
    const name = state.meta ? state.meta.name : "";
    if (!last) {
      replace(legend, h("strong", {}, state.symbol || ""), ` ${name} · ${state.interval} · no bars yet`);
      return;
    }
    const zone = zoneOf(state.meta);
    replace(
      legend,
      h("strong", { id: "legend-symbol" }, state.symbol),
      h("span", { class: "muted" }, ` ${name} · ${state.interval} · `),
      h("span", { id: "legend-time" }, formatTime(last.time, zone)),
      ` O ${fmt(last.open)} H ${fmt(last.high)} L ${fmt(last.low)} `,
      h("span", { id: "legend-close" }, `C ${fmt(last.close)}`),
      ` V ${fmt(last.volume, 0)}`,
    );
  }

  function updateDataset() {
    const last = state.bars[state.bars.length - 1];
    Object.assign(priceEl.dataset, {
      symbol: state.symbol || "",
      interval: state.interval,
      bars: String(state.bars.length),
      lastTime: last ? new Date(last.time * 1000).toISOString() : "",
      lastClose: last ? String(last.close) : "",
      lastVolume: last ? String(last.volume) : "",
      updates: String(state.updates),
    });
    let spacing = Infinity;
    for (let i = 1; i < state.bars.length; i++) {
      spacing = Math.min(spacing, state.bars[i].time - state.bars[i - 1].time);
    }
    priceEl.dataset.spacing = Number.isFinite(spacing) ? String(spacing) : "";
  }

  function drawMarkers() {
    const list = [];
    const onLine = [];
    const main = state.factorPoints.main;
    for (const s of state.signals.slice(-SIGNAL_LIMIT)) {
      const t = toTime(s.ts_ms ?? s.ts);
      const buy = s.side === "buy";
      const i = floorIndex(state.bars, t);
      if (i >= 0) {
        list.push({
          time: state.bars[i].time,
          position: buy ? "belowBar" : "aboveBar",
          shape: buy ? "arrowUp" : "arrowDown",
          color: buy ? BUY : SELL,
          text: buy ? "B" : "S",
        });
      }
      const j = s.factor === state.factor ? floorIndex(main, t) : -1;
      if (j >= 0) {
        onLine.push({
          time: main[j].time,
          position: "inBar",
          shape: "circle",
          color: buy ? BUY : SELL,
          size: 0.6,
        });
      }
    }
    list.push(...state.predictionMarkers);
    list.sort((a, b) => a.time - b.time);
    onLine.sort((a, b) => a.time - b.time);
    priceMarkers.setMarkers(list);
    priceEl.dataset.predictionMarkers = String(state.predictionMarkers.length);
    factorMarkers.setMarkers(onLine);
    priceEl.dataset.markers = String(list.length);
    priceEl.dataset.signals = String(state.signals.length);
    const zone = zoneOf(state.meta);
    replace(
      signalsBody,
      state.signals
        .slice(-15)
        .reverse()
        .map((s) =>
          h(
            "tr",
            { class: s.side },
            h("td", {}, formatTime(toTime(s.ts_ms ?? s.ts), zone, true)),
            h("td", { class: `side ${s.side}` }, s.side),
            h("td", {}, s.rule_id),
            h("td", {}, s.factor),
            h("td", { class: "num" }, fmt(s.value, 4)),
          ),
        ),
    );
  }

  function showFactorLegend() {
    const last = (series) => series[series.length - 1]?.value;
    const p = state.factorPoints;
    replace(
      factorLegend,
      `${state.factor} ${fmt(last(p.main), 3)} · microprice ${fmt(last(p.micro), 4)} · mid ${fmt(last(p.mid), 4)}`,
    );
    factorEl.dataset.points = String(p.main.length);
    describeGeometry(factorChart, factorEl, p.main);
  }

  function drawRules() {
    for (const line of priceLines) mainLine.removePriceLine(line);
    priceLines = [];
    levels = [];
    const rules = state.rules.filter((r) => applies(r, state.factor, state.symbol));
    for (const rule of rules) {
      const { buy, sell, mirror } = thresholds(rule);
      if (!rule.enabled) continue;
      levels.push(...[buy, sell].filter((v) => v != null));
      if (buy != null) {
        priceLines.push(
          mainLine.createPriceLine({
            price: buy,
            color: BUY,
            lineStyle: 2,
            lineWidth: 1,
            title: `buy ${mirror ? "<" : ">"} ${buy}`,
          }),
        );
      }
      if (sell != null) {
        priceLines.push(
          mainLine.createPriceLine({
            price: sell,
            color: SELL,
            lineStyle: 2,
            lineWidth: 1,
            title: `sell ${mirror ? ">" : "<"} ${sell}`,
          }),
        );
      }
    }
    replace(
      rulesEl,
      h("h4", {}, `Signal rules on ${state.factor}`),
      rules.length ? rules.map(ruleForm) : h("p", { class: "muted" }, "No rule watches this factor."),
      admin && !rules.some((r) => r.symbol === state.symbol)
        ? h("button", { id: "add-rule", class: "secondary", onclick: addRule }, `Add a rule for ${state.symbol}`)
        : null,
      admin ? null : h("p", { class: "muted small" }, "Read only: log in as admin to change thresholds."),
    );
  }

  function ruleForm(rule) {
    const { buy, sell, mirror } = thresholds(rule);
    const input = (name, value) =>
      h("input", {
        name,
        type: "number",
        step: "any",
        value: value ?? "",
        readonly: !admin,
        class: "threshold",
        "aria-label": `${name} threshold of rule ${rule.id}`,
      });
    const buyInput = input("buy", buy);
    const sellInput = input("sell", sell);
    const msg = h("span", { class: "msg" }, state.notes[rule.id] || "");
    delete state.notes[rule.id];
    const form = h(
      "form",
      { class: "rule", dataset: { rule: rule.id } },
      h("span", { class: "rule-id" }, rule.id),
      h("span", { class: "scope" }, rule.symbol && rule.symbol !== "*" ? rule.symbol : "all symbols"),
      h("label", {}, `buy when it ${mirror ? "falls below" : "rises above"}`, buyInput),
      h("label", {}, `sell when it ${mirror ? "rises above" : "falls below"}`, sellInput),
      rule.enabled ? null : h("span", { class: "tag" }, "disabled"),
      admin ? h("button", { type: "submit", class: "save" }, "Save") : null,
      admin && rule.symbol && rule.symbol !== "*"
        ? h("button", { type: "button", class: "link remove", onclick: () => removeRule(rule, msg) }, "Remove")
        : null,
      msg,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { ...rule };
      const value = (el) => (el.value.trim() === "" ? null : Number(el.value));
      const b = value(buyInput);
      const s = value(sellInput);
      if ((b !== null && !Number.isFinite(b)) || (s !== null && !Number.isFinite(s))) {
        msg.textContent = "thresholds must be numbers";
        return;
      }
      if (mirror) Object.assign(body, { buy_below: b, sell_above: s });
      else Object.assign(body, { buy_above: b, sell_below: s });
      try {
        await api(`/api/signal-rules/${encodeURIComponent(rule.id)}`, { method: "PUT", body });
        state.notes[rule.id] = "saved";
        await loadRules();
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    return form;
  }

  async function addRule() {
    try {
      await api("/api/signal-rules", {
        method: "POST",
        body: { factor: state.factor, symbol: state.symbol, buy_above: 0.6, sell_below: -0.6, cooldown_ms: 60000 },
      });
      await loadRules();
    } catch (err) {
      error.textContent = err.message;
    }
  }

  async function removeRule(rule, msg) {
    try {
      await api(`/api/signal-rules/${encodeURIComponent(rule.id)}`, { method: "DELETE" });
      await loadRules();
    } catch (err) {
      msg.textContent = err.message;
    }
  }

  // -- loading ------------------------------------------------------------------
  async function loadRules() {
    try {
      state.rules = await api("/api/signal-rules");
    } catch (err) {
      state.rules = [];
      error.textContent = err.message;
    }
    if (!state.disposed) drawRules();
  }

  async function loadFactors(gen) {
    const query = (name) => ({ symbol: state.symbol, name, interval: "", limit: FACTOR_LIMIT });
    const [main, micro, mid] = await Promise.all(
      [state.factor, "microprice", "mid"].map((name) => api("/api/factors", { query: query(name) })),
    );
    if (gen !== state.gen) return;
    state.factorPoints = { main: lineData(main), micro: lineData(micro), mid: lineData(mid) };
    mainLine.applyOptions({ title: state.factor });
    mainLine.setData(state.factorPoints.main);
    microLine.setData(state.factorPoints.micro);
    midLine.setData(state.factorPoints.mid);
    // the stored points fill the pane (a fresh start has only a few), newest at the right
    factorChart.timeScale().fitContent();
    showFactorLegend();
  }

  async function load() {
    if (state.disposed) return;
    const gen = ++state.gen;
    error.textContent = "";
    state.meta = state.symbols.find((m) => m.symbol === state.symbol) || null;
    const zone = zoneOf(state.meta);
    chart.applyOptions(zoneOptions(zone));
    factorChart.applyOptions(zoneOptions(zone, true));
    candles.applyOptions(candleColors(state.meta?.market));
    for (const b of intervalButtons) b.classList.toggle("active", b.dataset.interval === state.interval);
    picker.set(state.symbol);
    setParams({ symbol: state.symbol, interval: state.interval, factor: state.factor });
    ws.subscribe({ symbols: [state.symbol], intervals: [state.interval] });
    try {
      const [rows, signals] = await Promise.all([
        api("/api/klines", { query: { symbol: state.symbol, interval: state.interval, limit: BAR_LIMIT } }),
        api("/api/signals", { query: { symbol: state.symbol, limit: SIGNAL_LIMIT } }),
      ]);
      if (gen !== state.gen) return;
      state.bars = rows.map(barPoint);
      state.signals = signals;
      candles.setData(state.bars);
      volume.setData(state.bars.map((b) => volumePoint(b, state.meta?.market)));
      const n = state.bars.length;
      if (n > 150) chart.timeScale().setVisibleLogicalRange({ from: n - 150, to: n + 3 });
      else chart.timeScale().fitContent();
      showLegend(null);
      updateDataset();
      await loadFactors(gen);
      if (gen !== state.gen) return;
      drawMarkers();
      drawRules();
      loadPredictionMarkers(gen);
    } catch (err) {
      if (gen === state.gen) error.textContent = err.message;
    }
  }

  /** The stored predictions of this stock as markers (models.js); none without a model. */
  async function loadPredictionMarkers(gen) {
    try {
      const markers = await predictionMarkers(state.symbol, state.bars);
      if (gen !== state.gen) return;
      state.predictionMarkers = markers;
      drawMarkers();
    } catch {
      // no trained model or no prediction: the chart has no prediction markers
    }
  }

  // -- live updates -------------------------------------------------------------
  function onBar(data) {
    if (data.symbol !== state.symbol || data.interval !== state.interval) return;
    const bar = barPoint(data);
    const where = mergePoint(state.bars, bar);
    if (where === "insert" || state.bars.length > 2 * BAR_LIMIT) {
      if (state.bars.length > 2 * BAR_LIMIT) state.bars.splice(0, state.bars.length - BAR_LIMIT);
      candles.setData(state.bars);
      volume.setData(state.bars.map((b) => volumePoint(b, state.meta?.market)));
    } else {
      candles.update(bar);
      volume.update(volumePoint(bar, state.meta?.market));
    }
    state.updates += 1;
    showLegend(null);
    updateDataset();
    if (where === "append" && state.signals.length) drawMarkers();
  }

  function onFactor(data) {
    if (data.symbol !== state.symbol || data.interval || data.value === null) return;
    const key =
      data.name === state.factor ? "main" : data.name === "microprice" ? "micro" : data.name === "mid" ? "mid" : null;
    if (!key) return;
    const points = state.factorPoints[key];
    const point = { time: toTime(data.ts), value: data.value };
    const series = { main: mainLine, micro: microLine, mid: midLine }[key];
    if (mergePoint(points, point) === "insert" || points.length > 2 * FACTOR_LIMIT) {
      if (points.length > 2 * FACTOR_LIMIT) points.splice(0, points.length - FACTOR_LIMIT);
      series.setData(points);
    } else series.update(point);
    if (key === "main") showFactorLegend();
  }

  function onSignal(data) {
    if (data.symbol !== state.symbol) return;
    state.signals.push({ ...data, ts_ms: Date.parse(data.ts) });
    if (state.signals.length > 2 * SIGNAL_LIMIT) state.signals.splice(0, SIGNAL_LIMIT);
    drawMarkers();
  }

  const ws = channel("market", {
    onMessage(type, data) {
      if (state.disposed) return;
      if (type === "bar") onBar(data);
      else if (type === "factor") onFactor(data);
      else if (type === "signal") onSignal(data);
    },
    onStatus(s) {
      status.show(s);
    },
  });

  // -- selection ----------------------------------------------------------------
  function selectSymbol(symbol) {
    notice.textContent = "";
    if (symbol === state.symbol) return;
    state.symbol = symbol;
    load();
  }

  function selectInterval(iv) {
    notice.textContent = "";
    if (iv === state.interval) return;
    state.interval = iv;
    load();
  }

  function selectFactor(f) {
    state.factor = f;
    load();
  }

  pickInitial(picker, state.symbol)
    .then(({ symbols, symbol, note }) => {
      Object.assign(state, { symbols, symbol });
      if (note) notice.textContent = [note, ...notes].join(" ");
      if (!state.symbol) {
        error.textContent = "No symbols in the store yet.";
        return;
      }
      loadRules();
      load();
    })
    .catch((err) => {
      error.textContent = err.message;
    });

  return () => {
    state.gen += 1; // pending loads see a new generation and drop their results
    state.disposed = true;
    ws.close();
    chart.remove();
    factorChart.remove();
  };
}
