// #/models: prediction models. Per model its versions (aliases, data range, holdout
// metrics, realised accuracy), the served version's holdout metrics beside the naive
// baselines (a chart and a table), the stored evaluations with the random-walk and
// planted controls (probable leaks shown loudly), champion against challenger (A/B),
// and the latest predictions, live from /ws/ai-predictions. Admins promote, roll back
// and predict now. Text nodes only (dom.js); the charts are SVG built node by node.
//
// predictionMarkers() gives the market chart its prediction markers.

import { api, channel, session } from "../api.js";
import { fmt, h, replace, statusBadge } from "../dom.js";
import { currentRoute, setParams } from "../route.js";

const BASELINES = ["naive", "mean", "up"];
const SVG = "http://www.w3.org/2000/svg";
const CONTROL_TITLES = { "": "stored bars", random: "random-walk control", planted: "planted-signal control" };
const LIVE_LIMIT = 50;

function pct(x, digits = 1) {
  return x === null || x === undefined ? "–" : `${fmt(x * 100, digits)}%`;
}

function num(x, digits = 4) {
  return x === null || x === undefined ? "–" : fmt(x, digits);
}

function ci(pair) {
  if (!pair || pair[0] === null || pair[0] === undefined) return "–";
  return `${pct(pair[0])} – ${pct(pair[1])}`;
}

function loadStyles() {
  if (document.getElementById("models-css")) return;
  document.head.append(h("link", { id: "models-css", rel: "stylesheet", href: "/static/css/models.css" }));
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/**
 * Horizontal bars of direction accuracy with their 95 % interval and the 50 % line.
 * rows: [{name, acc, lo, hi, kind: "model" | "baseline" | "leak"}]
 */
export function accuracyChart(rows, id) {
  const rowH = 22;
  const left = 110;
  const width = 520;
  const plot = width - left - 60;
  const height = rows.length * rowH + 28;
  const lo = 0.3;
  const hi = 0.8;
  const x = (v) => left + (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo) * plot;
  const el = svg("svg", { id, class: "acc-chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img" });
  el.append(svg("title", {}, "direction accuracy with its 95% interval; the line is 50%"));
  for (const t of [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]) {
    el.append(svg("line", { x1: x(t), x2: x(t), y1: 0, y2: height - 20, class: t === 0.5 ? "fifty" : "tick" }));
    el.append(svg("text", { x: x(t), y: height - 6, "text-anchor": "middle", class: "axis" }, `${t * 100}%`));
  }
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const g = svg("g", { class: `bar ${r.kind}`, "data-name": r.name });
    g.append(svg("text", { x: left - 8, y: y + 13, "text-anchor": "end", class: "label" }, r.name));
    if (r.acc !== null && r.acc !== undefined) {
      g.append(svg("rect", { x: x(lo), y, width: Math.max(1, x(r.acc) - x(lo)), height: rowH - 8 }));
      if (r.lo !== null && r.lo !== undefined) {
        const cy = y + (rowH - 8) / 2;
        g.append(svg("line", { x1: x(r.lo), x2: x(r.hi), y1: cy, y2: cy, class: "whisker" }));
      }
      g.append(svg("text", { x: left + plot + 8, y: y + 12, class: "value" }, pct(r.acc)));
    } else {
      g.append(svg("text", { x: left + plot + 8, y: y + 12, class: "value" }, "n/a"));
    }
    el.append(g);
  });
  el.dataset.bars = String(rows.length);
  return el;
}

function metricsTable(models, names, id, leaks = []) {
  const head = ["model", "direction", "95% interval", "MAE", "R² oos", "IC", "rank IC", "top-k"];
  return h(
    "table",
    { class: "grid metrics", id },
    h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))),
    h(
      "tbody",
      {},
      names.map((n) => {
        const m = models[n] || {};
        const cls = leaks.includes(n) ? "leak" : BASELINES.includes(n) ? "baseline" : "model";
        return h(
          "tr",
          { class: cls, dataset: { model: n } },
          h("td", {}, n, BASELINES.includes(n) ? h("span", { class: "tag" }, "baseline") : null),
          h("td", { class: "num" }, pct(m.direction_accuracy)),
          h("td", { class: "num nowrap" }, ci(m.direction_accuracy_ci)),
          h("td", { class: "num" }, num(m.mae, 5)),
          h("td", { class: "num" }, num(m.r2_oos, 4)),
          h("td", { class: "num" }, num(m.ic, 4)),
          h("td", { class: "num" }, num(m.rank_ic, 4)),
          h("td", { class: "num" }, m.topk_return === undefined ? "–" : pct(m.topk_return, 3)),
        );
      }),
    ),
  );
}

function chartRows(models, names, leaks = []) {
  return names.map((n) => {
    const m = models[n] || {};
    const [lo, hi] = m.direction_accuracy_ci || [null, null];
    const kind = leaks.includes(n) ? "leak" : BASELINES.includes(n) ? "baseline" : "model";
    return { name: n, acc: m.direction_accuracy ?? null, lo, hi, kind };
  });
}

function ordered(models) {
  const names = Object.keys(models || {});
  return [...names.filter((n) => !BASELINES.includes(n)).sort(), ...BASELINES.filter((b) => names.includes(b))];
}

export function mount(root) {
  loadStyles();
  const admin = session.isAdmin();
  const error = h("p", { class: "error", role: "alert", id: "models-error" });
  const notice = h("p", { class: "muted", id: "models-notice" });
  const leakBox = h("section", { id: "leak-alerts" });
  const picker = h("select", { id: "model-select", onchange: () => select(picker.value) });
  const badge = statusBadge();
  const versionsBody = h("tbody", { id: "versions-rows" });
  const holdout = h("section", { class: "card", id: "holdout" });
  const evaluations = h("section", { class: "card", id: "evaluations" });
  const ab = h("section", { class: "card", id: "ab" });
  const predsBody = h("tbody", { id: "predictions-rows" });
  const liveBody = h("tbody", { id: "live-rows" });
  const predictButton = admin
    ? h("button", { id: "predict-now", class: "secondary", onclick: predictNow }, "Predict now")
    : null;
  const page = h(
    "section",
    { class: "models", id: "models-page" },
    h("div", { class: "toolbar" }, h("h2", {}, "Models"), h("label", {}, "model ", picker), predictButton, badge.el),
    error,
    notice,
    leakBox,
    h(
      "section",
      { class: "card scroll" },
      h("h3", {}, "Versions"),
      h(
        "table",
        { class: "grid", id: "versions-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["version", "aliases", "data set", "trained on", "stocks", "holdout direction", "holdout MAE", "realised direction", "scored", "parent", ""].map((x) =>
              h("th", {}, x),
            ),
          ),
        ),
        versionsBody,
      ),
    ),
    holdout,
    ab,
    evaluations,
    h(
      "section",
      { class: "card scroll" },
      h("h3", {}, "Latest predictions"),
      h(
        "table",
        { class: "grid", id: "predictions-table" },
        h("thead", {}, h("tr", {}, ["symbol", "target day", "open", "close", "return", "version", ""].map((x) => h("th", {}, x)))),
        predsBody,
      ),
      h("h4", {}, "Live (/ws/ai-predictions)"),
      h(
        "table",
        { class: "grid", id: "live-table" },
        h("thead", {}, h("tr", {}, ["symbol", "target day", "close", "return", "model", "served as"].map((x) => h("th", {}, x)))),
        liveBody,
      ),
    ),
  );
  replace(root, page);
  const state = { list: null, name: null, disposed: false, live: 0 };

  function showLeaks(evals) {
    const random = evals.random;
    const leaks = random?.probable_leaks || [];
    replace(
      leakBox,
      leaks.map((n) => {
        const m = random.models[n] || {};
        return h(
          "div",
          { class: "leak-alert", role: "alert", dataset: { model: n } },
          h("strong", {}, `PROBABLE LEAK: ${n}`),
          ` predicts a random walk's direction ${pct(m.direction_accuracy)} (95% interval ${ci(m.direction_accuracy_ci)}, outside 50%): it sees the future somewhere. Do not trust its predictions.`,
        );
      }),
    );
    page.dataset.leaks = String(leaks.length);
  }

  function showEvaluations(evals) {
    const keys = ["", "random", "planted"].filter((k) => evals[k]);
    replace(
      evaluations,
      h("h3", {}, "Evaluations (walk-forward, beside the baselines)"),
      keys.length
        ? keys.map((k) => {
            const doc = evals[k];
            const names = ordered(doc.models);
            const leaks = doc.probable_leaks || [];
            const id = `eval-${k || "bars"}`;
            return h(
              "div",
              { class: "evaluation", id, dataset: { control: k || "bars" } },
              h(
                "h4",
                {},
                `${CONTROL_TITLES[k] || k} · ${doc.dataset} · ${fmt(doc.symbols, 0)} stocks · ${fmt(doc.days, 0)} days · ${fmt(doc.folds, 0)} folds`,
              ),
              k === "planted"
                ? h("p", { class: "muted small" }, "A model that learns must beat the baselines here: the data hold a known predictable part.")
                : k === "random"
                  ? h("p", { class: "muted small" }, "Nothing is predictable here: a model outside 50% ± its interval sees the future somewhere.")
                  : null,
              h("div", { class: "columns" }, accuracyChart(chartRows(doc.models, names, leaks), `${id}-chart`), metricsTable(doc.models, names, `${id}-table`, leaks)),
            );
          })
        : h(
            "p",
            { class: "muted" },
            "No evaluation stored yet: quantdesk model evaluate --model all (and --control random, --control planted).",
          ),
    );
  }

  function showHoldout(status) {
    const served = status.versions.find((v) => v.version === status.version);
    const metrics = served?.metrics || {};
    const names = [status.name, ...BASELINES].filter((n) => metrics[n]);
    replace(
      holdout,
      h("h3", {}, `v${status.version} on its holdout, beside the baselines`),
      h(
        "p",
        { class: "muted small" },
        `${status.dataset} data, trained ${status.trained_range[0] ?? "?"} – ${status.trained_range[1] ?? "?"}` +
          (metrics.holdout_days ? `; holdout: the last ${metrics.holdout_days} days from ${metrics.holdout_start}` : ""),
      ),
      names.length
        ? h("div", { class: "columns" }, accuracyChart(chartRows(metrics, names), "holdout-chart"), metricsTable(metrics, names, "holdout-table"))
        : h("p", { class: "muted" }, "No holdout metrics (too few days when it was trained)."),
    );
  }

  function showAb(status) {
    const rows = ["champion", "challenger"].map((alias) => {
      const a = status.ab[alias];
      if (!a) return h("tr", { dataset: { alias } }, h("td", {}, alias), h("td", { colspan: 6, class: "muted" }, "none"));
      return h(
        "tr",
        { dataset: { alias } },
        h("td", {}, alias),
        h("td", { class: "num" }, `v${a.version}`),
        h("td", { class: "num" }, fmt(a.scored, 0)),
        h("td", { class: "num" }, pct(a.direction_accuracy)),
        h("td", { class: "num nowrap" }, ci(a.direction_accuracy_ci)),
        h("td", { class: "num" }, num(a.mae, 5)),
        h("td", { class: "nowrap" }, a.first_day ? `${a.first_day} – ${a.last_day}` : "no outcome yet"),
      );
    });
    replace(
      ab,
      h("h3", {}, "A/B: champion and challenger, realised as outcomes arrive"),
      h(
        "table",
        { class: "grid", id: "ab-table" },
        h("thead", {}, h("tr", {}, ["alias", "version", "scored", "direction", "95% interval", "MAE", "target days"].map((x) => h("th", {}, x)))),
        h("tbody", {}, rows),
      ),
    );
  }

  function showVersions(status) {
    replace(
      versionsBody,
      [...status.versions].reverse().map((v) => {
        const hold = v.metrics?.[v.name] || {};
        const actions = [];
        if (admin && !v.aliases.includes("champion")) {
          actions.push(h("button", { class: "link promote", dataset: { version: v.version }, onclick: () => promote(v.version, "champion") }, "make champion"));
        }
        if (admin && !v.aliases.includes("challenger")) {
          actions.push(h("button", { class: "link", onclick: () => promote(v.version, "challenger") }, "make challenger"));
        }
        return h(
          "tr",
          { class: "version-row", dataset: { version: v.version, aliases: v.aliases.join(",") } },
          h("td", { class: "num" }, `v${v.version}`),
          h("td", {}, v.aliases.map((a) => h("span", { class: `tag alias ${a}` }, a))),
          h("td", {}, v.dataset),
          h("td", { class: "nowrap" }, `${v.trained_range[0] ?? "?"} – ${v.trained_range[1] ?? "?"}`),
          h("td", { class: "num" }, fmt(v.symbols, 0)),
          h("td", { class: "num" }, pct(hold.direction_accuracy)),
          h("td", { class: "num" }, num(hold.mae, 5)),
          h("td", { class: "num" }, pct(v.realised.direction_accuracy)),
          h("td", { class: "num" }, fmt(v.realised.scored, 0)),
          h("td", { class: "num" }, v.parent_version ? `v${v.parent_version}` : "–"),
          h("td", { class: "nowrap" }, actions),
        );
      }),
    );
  }

  function predictionRow(p) {
    return h(
      "tr",
      { class: "prediction-row", dataset: { symbol: p.symbol } },
      h("td", {}, p.symbol),
      h("td", { class: "nowrap" }, p.target_day),
      h("td", { class: "num" }, num(p.predicted_open, 3)),
      h("td", { class: "num" }, num(p.predicted_close, 3)),
      h("td", { class: `num ${p.predicted_return > 0 ? "up" : "down"}` }, pct(p.predicted_return, 3)),
      h("td", { class: "num" }, `v${p.version}`),
      h("td", { class: "muted" }, p.stale ? "stale" : ""),
    );
  }

  async function loadPredictions(name) {
    try {
      const doc = await api("/api/v2/ai/predictions", { query: { model: name } });
      if (state.disposed || name !== state.name) return;
      replace(
        predsBody,
        doc.predictions.length
          ? doc.predictions.map(predictionRow)
          : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No prediction stored yet: the predict job makes them after the morning session (or Predict now).")),
      );
      page.dataset.predictions = String(doc.predictions.length);
    } catch (err) {
      replace(predsBody, h("tr", {}, h("td", { colspan: 7, class: "muted" }, err.message)));
    }
  }

  async function select(name) {
    state.name = name;
    setParams({ model: name });
    error.textContent = "";
    try {
      const status = await api(`/api/v2/ai/models/${encodeURIComponent(name)}/status`);
      if (state.disposed || name !== state.name) return;
      page.dataset.model = name;
      page.dataset.version = String(status.version);
      showVersions(status);
      showHoldout(status);
      showAb(status);
      await loadPredictions(name);
    } catch (err) {
      error.textContent = err.message;
    }
  }

  async function promote(version, alias) {
    error.textContent = "";
    try {
      await api(`/api/v2/ai/models/${encodeURIComponent(state.name)}/promote`, { method: "POST", body: { version, alias } });
      notice.textContent = `${state.name} ${alias} is now v${version}: served from the next prediction on.`;
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  }

  async function predictNow() {
    error.textContent = "";
    try {
      const doc = await api(`/api/v2/ai/models/${encodeURIComponent(state.name)}/predict`, { method: "POST", body: {} });
      notice.textContent =
        `${doc.champion.length} predictions by v${doc.version}` +
        (doc.challenger ? ` and ${doc.challenger.length} by the challenger v${doc.challenger[0]?.version}` : "") +
        (doc.challenger_error ? ` (challenger: ${doc.challenger_error})` : "") +
        `; ${doc.outcomes_scored} earlier predictions scored.`;
      await select(state.name);
    } catch (err) {
      error.textContent = err.message;
    }
  }

  async function refresh() {
    try {
      const doc = await api("/api/v2/ai/models");
      if (state.disposed) return;
      state.list = doc;
      showLeaks(doc.evaluations);
      showEvaluations(doc.evaluations);
      const trained = doc.models.filter((m) => m.versions.length);
      page.dataset.models = String(trained.length);
      if (!trained.length) {
        replace(picker);
        replace(versionsBody, h("tr", {}, h("td", { colspan: 11, class: "muted" }, "No model is trained yet: quantdesk model train --model lstm")));
        return;
      }
      const asked = currentRoute().params.get("model");
      const names = trained.map((m) => m.name);
      const name = names.includes(state.name) ? state.name : names.includes(asked) ? asked : names.includes(doc.default) ? doc.default : names[0];
      replace(
        picker,
        trained.map((m) => h("option", { value: m.name, selected: m.name === name }, `${m.name}${m.champion ? ` (champion v${m.champion})` : ""}`)),
      );
      picker.value = name;
      await select(name);
    } catch (err) {
      error.textContent = err.message;
    }
  }

  const ws = channel("ai-predictions", {
    onStatus: badge.show,
    onMessage(type, data) {
      if (type !== "prediction") return;
      state.live += 1;
      liveBody.prepend(
        h(
          "tr",
          { class: "live-row", dataset: { symbol: data.symbol, alias: data.alias } },
          h("td", {}, data.symbol),
          h("td", { class: "nowrap" }, data.target_day),
          h("td", { class: "num" }, num(data.predicted_close, 3)),
          h("td", { class: "num" }, pct(data.predicted_return, 3)),
          h("td", {}, `${data.model} v${data.version}`),
          h("td", {}, data.alias || "–"),
        ),
      );
      while (liveBody.children.length > LIVE_LIMIT) liveBody.lastChild.remove();
      page.dataset.live = String(state.live);
    },
  });

  refresh();
  return () => {
    state.disposed = true;
    ws.close();
  };
}

let servedModelCache = null;

/** The model whose predictions the market chart marks: the default when it is trained,
 * else the first model with a champion (else with any version); null when none. */
async function servedModel() {
  if (servedModelCache && servedModelCache.at > Date.now() - 60000) return servedModelCache.name;
  const doc = await api("/api/v2/ai/models");
  const trained = doc.models.filter((m) => m.versions.length);
  const pick = trained.find((m) => m.name === doc.default) || trained.find((m) => m.champion) || trained[0];
  servedModelCache = { at: Date.now(), name: pick ? pick.name : null };
  return servedModelCache.name;
}

/**
 * Markers for the market chart: each stored prediction of `symbol` at the first bar of
 * its target day (bars: [{time}] in chart seconds, sorted), an arrow in the predicted
 * direction, "✓"/"✗" once the outcome is known. [] when no model is trained.
 */
export async function predictionMarkers(symbol, bars) {
  if (!bars.length) return [];
  let name;
  try {
    name = await servedModel();
  } catch {
    return [];
  }
  if (!name) return [];
  const doc = await api("/api/v2/ai/predictions/history", { query: { symbol, model: name, limit: 200 } });
  const out = [];
  for (const p of doc.predictions) {
    const t = Math.floor(Date.parse(`${p.target_day}T00:00:00Z`) / 1000);
    let lo = 0;
    let hi = bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bars[mid].time < t) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= bars.length || bars[lo].time >= t + 86400) continue; // that day is not on the chart
    const up = p.predicted_return > 0;
    const verdict = p.hit === null || p.hit === undefined ? "" : p.hit ? " ✓" : " ✗";
    out.push({
      time: bars[lo].time,
      position: up ? "belowBar" : "aboveBar",
      shape: up ? "arrowUp" : "arrowDown",
      color: p.hit === false ? "#8593a3" : "#b388ff",
      text: `P ${up ? "+" : ""}${fmt(p.predicted_return * 100, 2)}%${verdict}`,
    });
  }
  return out;
}
