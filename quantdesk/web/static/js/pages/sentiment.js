// #/sentiment: a symbol's rolling tweet sentiment over its price, and its
// recent tweets (stored ones, then live "tweet" messages of /ws/market).
// Tweets are untrusted text: shown through text nodes only.

import { api, channel } from "../api.js";
import {
  LWC,
  describeGeometry,
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
import { pickInitial, symbolPicker } from "./symbols.js";

const TWEET_LIMIT = 50;
const POINTS = 2000;

function tweetItem(t, zone) {
  const label = t.label || (t.score > 0.1 ? "positive" : t.score < -0.1 ? "negative" : "neutral");
  return h(
    "li",
    { class: `tweet ${label}`, dataset: { id: t.id } },
    h(
      "div",
      { class: "meta" },
      h("span", { class: `score ${label}` }, `${t.score >= 0 ? "+" : ""}${fmt(t.score, 2)}`),
      h("span", { class: "muted small" }, formatTime(toTime(t.time), zone, true)),
      h("span", { class: "muted small" }, `@${t.author_id ?? "?"}`),
      (t.symbols || []).map((s) => h("span", { class: "chip" }, s)),
    ),
    h("p", { class: "text" }, t.text),
  );
}

export function mount(root, { params }) {
  const state = { symbols: [], meta: null, symbol: params.get("symbol"), tweets: [], gen: 0 };
  const picker = symbolPicker((s) => {
    notice.textContent = "";
    state.symbol = s;
    load();
  });
  const status = statusBadge();
  const legend = h("div", { id: "sentiment-legend", class: "legend" });
  const chartEl = h("div", { id: "sentiment-chart", class: "chart price" });
  const list = h("ol", { id: "tweets", class: "tweets" });
  const error = h("p", { class: "error", role: "alert" });
  const notice = h("p", { class: "notice", id: "route-notice", role: "status" });
  replace(
    root,
    h(
      "section",
      { class: "sentiment" },
      h("div", { class: "toolbar" }, h("h2", {}, "Sentiment"), picker.element, status.el),
      notice,
      error,
      legend,
      chartEl,
      h(
        "section",
        { class: "card scroll tweets-card" },
        h("h3", {}, "Recent tweets"),
        h("p", { class: "muted small" }, "Scored by the sentiment model: +1 bullish, -1 bearish."),
        list,
      ),
    ),
  );

  const chart = makeChart(chartEl, "UTC");
  const price = chart.addSeries(LWC.LineSeries, { color: "#c5ccd6", lineWidth: 2, title: "close" });
  const ewma = chart.addSeries(
    LWC.LineSeries,
    { color: "#f0b429", lineWidth: 2, title: "sentiment (EWMA)", priceLineVisible: false },
    1,
  );
  const mean = chart.addSeries(
    LWC.LineSeries,
    { color: "#58a6ff", lineWidth: 1, lineStyle: 2, title: "mean (15 min)", priceLineVisible: false },
    1,
  );
  // the sentiment pane gets 40% of the height (never a sliver under the price)
  chart.panes()[0]?.setStretchFactor(3);
  chart.panes()[1]?.setStretchFactor(2);
  ewma.createPriceLine({ price: 0, color: "#4b5563", lineStyle: 1, lineWidth: 1, title: "" });
  const data = { price: [], ewma: [], mean: [] };

  function showLegend() {
    const last = (a) => a[a.length - 1]?.value;
    replace(
      legend,
      h("strong", {}, state.symbol || ""),
      h("span", { class: "muted" }, ` ${state.meta?.name ?? ""} · `),
      `close ${fmt(last(data.price))} · sentiment EWMA `,
      h("span", { id: "sentiment-ewma" }, fmt(last(data.ewma), 3)),
      ` · 15-min mean ${fmt(last(data.mean), 3)}`,
    );
    chartEl.dataset.points = String(data.ewma.length);
    describeGeometry(chart, chartEl, data.ewma);
  }

  /**
   * Show the stretch of time the sentiment covers (with the price over it): at a
   * fresh start it is minutes long, and fitting days of price would squeeze it
   * against the right edge. Without sentiment yet, the price's own range.
   */
  function fitSentiment() {
    const scale = chart.timeScale();
    const e = data.ewma;
    if (e.length < 2) {
      scale.fitContent();
      return;
    }
    const lastPrice = data.price[data.price.length - 1]?.time ?? 0;
    const to = Math.max(e[e.length - 1].time, lastPrice);
    const from = e[0].time;
    scale.setVisibleRange({ from: from - Math.max(30, (to - from) * 0.03), to });
  }

  function showTweets() {
    const zone = zoneOf(state.meta);
    replace(
      list,
      state.tweets.length
        ? state.tweets.map((t) => tweetItem(t, zone))
        : h("li", { class: "muted" }, "No tweets about this symbol yet."),
    );
    list.dataset.count = String(state.tweets.length);
  }

  async function loadTweets(gen) {
    try {
      const tweets = await api("/api/tweets", { query: { symbol: state.symbol, limit: TWEET_LIMIT } });
      if (gen !== state.gen) return;
      state.tweets = tweets.reverse(); // newest first
      showTweets();
    } catch (err) {
      if (gen === state.gen) error.textContent = err.message;
    }
  }

  /** A live tweet: newest first; an edit (same id) replaces its earlier version. */
  function onTweet(t) {
    if (!t.symbols.includes(state.symbol)) return;
    state.tweets = [t, ...state.tweets.filter((x) => x.id !== t.id)].slice(0, TWEET_LIMIT);
    showTweets();
  }

  async function load() {
    if (state.disposed) return;
    const gen = ++state.gen;
    error.textContent = "";
    state.meta = state.symbols.find((m) => m.symbol === state.symbol) || null;
    chart.applyOptions(zoneOptions(zoneOf(state.meta)));
    picker.set(state.symbol);
    setParams({ symbol: state.symbol });
    ws.subscribe({ symbols: [state.symbol], intervals: ["1m"] });
    const factor = (name) =>
      api("/api/factors", { query: { symbol: state.symbol, name, interval: "", limit: POINTS } });
    try {
      const [bars, e, m] = await Promise.all([
        api("/api/klines", { query: { symbol: state.symbol, interval: "1m", limit: 500 } }),
        factor("sentiment_ewma"),
        factor("sentiment_mean"),
      ]);
      if (gen !== state.gen) return;
      data.price = bars.map((b) => ({ time: toTime(b.time), value: b.close }));
      data.ewma = lineData(e);
      data.mean = lineData(m);
      price.setData(data.price);
      ewma.setData(data.ewma);
      mean.setData(data.mean);
      fitSentiment();
      showLegend();
    } catch (err) {
      if (gen === state.gen) error.textContent = err.message;
    }
    state.tweetsLoaded = true;
    loadTweets(gen);
  }

  function onMessage(type, d) {
    if (state.disposed) return;
    if (type === "tweet") {
      onTweet(d);
      return;
    }
    if (d.symbol !== state.symbol) return;
    let series = null;
    let target = null;
    let point = null;
    if (type === "bar" && d.interval === "1m") {
      [series, target, point] = [price, data.price, { time: toTime(d.time), value: d.close }];
    } else if (type === "factor" && d.value !== null && d.name === "sentiment_ewma") {
      [series, target, point] = [ewma, data.ewma, { time: toTime(d.ts), value: d.value }];
    } else if (type === "factor" && d.value !== null && d.name === "sentiment_mean") {
      [series, target, point] = [mean, data.mean, { time: toTime(d.ts), value: d.value }];
    }
    if (!series) return;
    if (mergePoint(target, point) === "insert") series.setData(target);
    else series.update(point);
    if (series === ewma && data.ewma.length < 50) fitSentiment(); // still short: keep it filling
    showLegend();
  }

  const ws = channel("market", {
    onMessage,
    onStatus(s) {
      status.show(s);
      // after a reconnect, fetch what was missed while away
      if (s === "live" && state.symbol && state.tweetsLoaded) loadTweets(state.gen);
    },
  });

  pickInitial(picker, state.symbol)
    .then(({ symbols, symbol, note }) => {
      Object.assign(state, { symbols, symbol });
      notice.textContent = note;
      if (state.symbol) load();
    })
    .catch((err) => {
      error.textContent = err.message;
    });

  return () => {
    state.gen += 1; // pending loads see a new generation and drop their results
    state.disposed = true;
    ws.close();
    chart.remove();
  };
}
