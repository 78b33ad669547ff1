// #/logs (admin): search the server's recent log records (GET /api/logs) and
// tail new ones live (/ws/logs), seed B's log page.

import { api, channel, session } from "../api.js";
import { h, replace, statusBadge } from "../dom.js";

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
const MAX_ROWS = 1000;

function matches(record, q, level) {
  if (LEVELS.indexOf(record.level) < LEVELS.indexOf(level)) return false;
  if (!q) return true;
  const needle = q.toLowerCase();
  return record.message.toLowerCase().includes(needle) || record.logger.toLowerCase().includes(needle);
}

function row(r) {
  return h(
    "tr",
    { class: `level-${r.level.toLowerCase()}` },
    h("td", { class: "nowrap" }, r.time.replace("T", " ").replace("Z", "")),
    h("td", {}, r.level),
    h("td", {}, r.logger),
    h("td", { class: "message" }, r.message),
  );
}

export function mount(root) {
  if (!session.isAdmin()) {
    replace(
      root,
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Logs"),
        h("p", { class: "muted", id: "logs-denied" }, "The server logs need role admin."),
      ),
    );
    return () => {};
  }
  const search = h("input", {
    id: "log-search",
    type: "search",
    placeholder: "Search messages and loggers",
    maxlength: 200,
    "aria-label": "log search",
  });
  const level = h(
    "select",
    { id: "log-level", "aria-label": "minimum level" },
    LEVELS.slice(1).map((l) => h("option", { value: l }, l)),
  );
  const live = h("input", { id: "log-live", type: "checkbox", checked: true });
  const status = statusBadge();
  const count = h("span", { id: "log-count", class: "muted small" });
  const body = h("tbody", { id: "log-rows" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "toolbar" },
    h("h2", {}, "Logs"),
    search,
    level,
    h("button", { type: "submit", id: "log-search-button" }, "Search"),
    h("label", { class: "check" }, live, "live tail"),
    status.el,
    count,
  );
  replace(
    root,
    h(
      "section",
      { class: "logs" },
      form,
      error,
      h(
        "div",
        { class: "card scroll" },
        h(
          "table",
          { id: "log-table", class: "grid logs-table" },
          h("thead", {}, h("tr", {}, ["time (UTC)", "level", "logger", "message"].map((c) => h("th", {}, c)))),
          body,
        ),
      ),
    ),
  );

  let filter = { q: "", level: "INFO" };

  function showCount() {
    count.textContent = `${body.childElementCount} records`;
  }

  async function runSearch() {
    filter = { q: search.value.trim(), level: level.value };
    error.textContent = "";
    try {
      const records = await api("/api/logs", { query: { q: filter.q, level: filter.level, limit: 500 } });
      replace(body, records.slice().reverse().map(row));
      showCount();
    } catch (err) {
      error.textContent = err.message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runSearch();
  });

  const ws = channel("logs", {
    onMessage(type, record) {
      if (type !== "log" || !live.checked || !matches(record, filter.q, filter.level)) return;
      body.prepend(row(record));
      while (body.childElementCount > MAX_ROWS) body.lastElementChild.remove();
      showCount();
    },
    onStatus(s) {
      status.show(s);
    },
  });
  runSearch();
  return () => ws.close();
}
