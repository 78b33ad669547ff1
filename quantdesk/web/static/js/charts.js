// Chart helpers over TradingView lightweight-charts (window.LightweightCharts,
// installed into /static/vendor by the set-up command).

export const LWC = window.LightweightCharts;

/** Exchange calendars -> IANA time zones: charts show exchange time. */
const ZONES = { XSHG: "Asia/Shanghai", XSHE: "Asia/Shanghai", XNYS: "America/New_York" };

export function zoneOf(meta) {
  return ZONES[meta?.calendar] || "UTC";
}

/** ISO 8601 or epoch ms -> chart time (whole UTC seconds). */
export function toTime(value) {
  const ms = typeof value === "number" ? value : Date.parse(value);
  return Math.floor(ms / 1000);
}

const partsCache = new Map();

function parts(seconds, zone) {
  let f = partsCache.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    partsCache.set(zone, f);
  }
  const out = {};
  for (const p of f.formatToParts(new Date(seconds * 1000))) out[p.type] = p.value;
  return out;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "2026-05-06 09:31" (with seconds if asked) in the zone. */
export function formatTime(seconds, zone, withSeconds = false) {
  const p = parts(seconds, zone);
  const hm = `${p.hour}:${p.minute}${withSeconds ? `:${p.second}` : ""}`;
  return `${p.year}-${p.month}-${p.day} ${hm}`;
}

function tickFormatter(zone) {
  return (time, type) => {
    const p = parts(time, zone);
    switch (type) {
      case 0:
        return p.year;
      case 1:
        return MONTHS[Number(p.month) - 1];
      case 2:
        return `${Number(p.day)} ${MONTHS[Number(p.month) - 1]}`;
      case 4:
        return `${p.hour}:${p.minute}:${p.second}`;
      default:
        return `${p.hour}:${p.minute}`;
    }
  };
}

/** Chart options that make the axes and crosshair speak the zone's time. */
export function zoneOptions(zone, seconds = false) {
  return {
    timeScale: { secondsVisible: seconds, tickMarkFormatter: tickFormatter(zone) },
    localization: { timeFormatter: (t) => formatTime(t, zone, seconds) },
  };
}

/** Pixels kept free right of the newest point (half a "09:33:45" label and more). */
export const RIGHT_ROOM_PX = 48;

/**
 * Where a chart draws a series, as data attributes of its element (read by the
 * end-to-end tests, handy when debugging): the x of the first and last points,
 * the plot width, and the height of each pane.
 */
export function describeGeometry(chart, el, points, prefix = "") {
  const first = points[0];
  const last = points[points.length - 1];
  // the chart lays a change out on the next frame: measure after it
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      try {
        const scale = chart.timeScale();
        const x = (p) => (p ? scale.timeToCoordinate(p.time) : null);
        const fx = x(first);
        const lx = x(last);
        el.dataset[`${prefix}firstX`] = fx === null ? "" : String(Math.round(fx));
        el.dataset[`${prefix}lastX`] = lx === null ? "" : String(Math.round(lx));
        el.dataset.plotWidth = String(Math.round(scale.width()));
        el.dataset.paneHeights = chart
          .panes()
          .map((pane) => Math.round(pane.getHeight()))
          .join(",");
      } catch {
        // the page was left meanwhile (the chart is gone): nothing to describe
      }
    }),
  );
}

/** A chart in the dashboard's theme whose axes speak the exchange's time zone. */
export function makeChart(el, zone, { seconds = false } = {}) {
  const chart = LWC.createChart(el, {
    autoSize: true,
    layout: {
      background: { type: "solid", color: "#0f141a" },
      textColor: "#c5ccd6",
      fontSize: 12,
      panes: { separatorColor: "#2a3340" },
    },
    grid: {
      vertLines: { color: "#1b232d" },
      horzLines: { color: "#1b232d" },
    },
    rightPriceScale: { borderColor: "#2a3340" },
    // room right of the last point: a time label there is never cut by the price scale
    timeScale: { borderColor: "#2a3340", timeVisible: true, rightOffsetPixels: RIGHT_ROOM_PX },
    crosshair: { mode: 0 },
  });
  chart.applyOptions(zoneOptions(zone, seconds));
  return chart;
}

/** Up/down colours: red rises and green falls on Chinese exchanges, the reverse in the US. */
export function candleColors(market) {
  const red = "#ef5350";
  const green = "#26a69a";
  const [up, down] = market === "cn" ? [red, green] : [green, red];
  return { upColor: up, downColor: down, wickUpColor: up, wickDownColor: down, borderVisible: false };
}

/**
 * Merge a point into a time-sorted array of {time, ...}: append, replace the
 * last, or (late data) replace/insert in place. Returns "append" | "last" | "insert".
 */
export function mergePoint(points, point) {
  const n = points.length;
  if (n === 0 || point.time > points[n - 1].time) {
    points.push(point);
    return "append";
  }
  if (point.time === points[n - 1].time) {
    points[n - 1] = point;
    return "last";
  }
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].time < point.time) lo = mid + 1;
    else hi = mid;
  }
  if (points[lo].time === point.time) points[lo] = point;
  else points.splice(lo, 0, point);
  return "insert";
}

/** Index of the last point with time <= t (-1 if none). */
export function floorIndex(points, t) {
  let lo = 0;
  let hi = points.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].time <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Factor rows from /api/factors -> line data, one point per second (the last wins). */
export function lineData(rows) {
  const out = [];
  for (const r of rows) {
    if (r.value === null) continue;
    mergePoint(out, { time: toTime(r.ts_ms ?? r.ts), value: r.value });
  }
  return out;
}
