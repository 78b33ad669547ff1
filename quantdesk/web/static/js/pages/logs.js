// #/logs (admin): search the log records (GET /api/logs: the log file of every
// process, rotated copies too) and tail new ones live (/ws/logs), seed B's log
// page; below, the audit log (GET /api/audit): who did what, when, from where.
// Everything from the server is put in as text nodes (dom.js), never as HTML.

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

function auditRow(r) {
  const detail = r.detail && Object.keys(r.detail).length ? JSON.stringify(r.detail) : "";
  return h(
    "tr",
    { class: r.action.endsWith(".failed") || r.action.endsWith(".limited") ? "level-warning" : "" },
    h("td", { class: "nowrap" }, r.time.replace("T", " ").replace("Z", "")),
    h("td", {}, r.user),
    h("td", {}, r.action),
    h("td", {}, r.client),
    h("td", { class: "message" }, detail),
  );
}

/** The audit log panel: filters by user, action (and the actions under it) and time. */
function auditPanel() {
  const user = h("input", { id: "audit-user", type: "search", placeholder: "user", maxlength: 64, "aria-label": "audit user" });
  const action = h("input", {
    id: "audit-action",
    type: "search",
    placeholder: "action: login, key, signal_rule…",
    maxlength: 64,
    "aria-label": "audit action",
  });
  const start = h("input", { id: "audit-start", type: "datetime-local", "aria-label": "from (local time)" });
  const end = h("input", { id: "audit-end", type: "datetime-local", "aria-label": "until (local time)" });
  const count = h("span", { id: "audit-count", class: "muted small" });
  const body = h("tbody", { id: "audit-rows" });
  const error = h("p", { class: "error", role: "alert", id: "audit-error" });
  const form = h(
    "form",
    { class: "toolbar", id: "audit-form" },
    h("h2", {}, "Audit log"),
    user,
    action,
    start,
    end,
    h("button", { type: "submit", id: "audit-search-button" }, "Search"),
    count,
  );
  const iso = (input) => (input.value ? new Date(input.value).toISOString() : undefined);

  async function run() {
    error.textContent = "";
    try {
      const rows = await api("/api/audit", {
        query: {
          user: user.value.trim() || undefined,
          action: action.value.trim() || undefined,
          start: iso(start),
          end: iso(end),
          limit: 500,
        },
      });
      replace(body, rows.slice().reverse().map(auditRow));
      count.textContent = `${rows.length} records`;
    } catch (err) {
      error.textContent = err.message;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  const el = h(
    "section",
    { class: "logs audit" },
    form,
    error,
    h(
      "div",
      { class: "card scroll" },
      h(
        "table",
        { id: "audit-table", class: "grid logs-table" },
        h("thead", {}, h("tr", {}, ["time (UTC)", "user", "action", "from", "detail"].map((c) => h("th", {}, c)))),
        body,
      ),
    ),
  );
  return { el, run };
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
  const audit = auditPanel();
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
    audit.el,
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
  audit.run();
  return () => ws.close();
}
