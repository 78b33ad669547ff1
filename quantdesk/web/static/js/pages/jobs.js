// #/jobs: seed B's scheduled trading day. The day's timeline (the trading-day jobs at
// their exchange-local times, with how each last ran), every job's schedule with its
// next and last run, an admin's edit (schedule, on/off) and "run now", and one job's
// run history with its errors. Live: the job events of /ws/pipeline-status reload it.
// Text nodes only (dom.js): job errors and run details are untrusted text.

import { api, channel, session } from "../api.js";
import { h, replace, statusBadge } from "../dom.js";

/** "cron:35 9 * * *" -> "09:35" when it fires once a day at a fixed time, else null. */
function dailyTime(spec) {
  const m = /^cron:(\d{1,2}) (\d{1,2}) \* \* \*$/.exec(spec);
  if (!m) return null;
  return `${m[2].padStart(2, "0")}:${m[1].padStart(2, "0")}`;
}

function when(iso, zone) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString("sv-SE", { timeZone: zone, hour12: false }).slice(0, 16);
}

function status(run) {
  if (!run) return h("span", { class: "muted" }, "never");
  return h("span", { class: `job-status ${run.status}` }, run.status);
}

export function mount(root) {
  const admin = session.isAdmin();
  const badge = statusBadge();
  const error = h("p", { class: "error", role: "alert", id: "jobs-error" });
  const timeline = h("ol", { id: "jobs-timeline", class: "timeline" });
  const rows = h("tbody", { id: "jobs-rows" });
  const editor = h("section", { id: "job-editor", class: "card", hidden: true });
  const historyTitle = h("h3", { id: "history-title" }, "Run history");
  const historyRows = h("tbody", { id: "history-rows" });
  const page = h(
    "section",
    { class: "jobs", id: "jobs-page" },
    h("div", { class: "toolbar" }, h("h2", {}, "Jobs"), badge.el),
    error,
    h("section", { class: "card" }, h("h3", {}, "The trading day"), timeline),
    h(
      "section",
      { class: "card scroll" },
      h("h3", {}, "Schedules"),
      h(
        "table",
        { id: "jobs-table", class: "grid" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["job", "schedule", "on", "next run", "last run", "status", "error", ""].map((x) =>
              h("th", {}, x),
            ),
          ),
        ),
        rows,
      ),
    ),
    editor,
    h(
      "section",
      { class: "card scroll" },
      historyTitle,
      h(
        "table",
        { id: "history-table", class: "grid" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["run", "fire time", "trigger", "attempt", "status", "started", "finished", "wall s", "error"].map(
              (x) => h("th", {}, x),
            ),
          ),
        ),
        historyRows,
      ),
    ),
  );
  replace(root, page);
  let disposed = false;
  let zone = "UTC";
  let selected = null;
  let reloadTimer = null;

  function fail(err) {
    error.textContent = err.message || String(err);
  }

  function renderTimeline(jobs) {
    const daily = jobs
      .filter((j) => j.trading_days && dailyTime(j.schedule))
      .map((j) => ({ job: j, at: dailyTime(j.schedule) }))
      .sort((a, b) => a.at.localeCompare(b.at));
    replace(
      timeline,
      daily.map(({ job, at }) =>
        h(
          "li",
          { dataset: { job: job.name }, class: job.enabled ? "" : "off" },
          h("span", { class: "at" }, at),
          " ",
          h("strong", {}, job.name),
          " ",
          job.enabled ? status(job.last_run) : h("span", { class: "muted" }, "off"),
        ),
      ),
    );
  }

  function renderRows(jobs) {
    replace(
      rows,
      jobs.map((j) =>
        h(
          "tr",
          { dataset: { job: j.name } },
          h(
            "td",
            {},
            h("a", { href: "#/jobs", class: "job-name", onclick: (e) => pick(e, j.name) }, j.name),
          ),
          h("td", { class: "schedule", title: j.title }, j.schedule + (j.trading_days ? " (trading days)" : "")),
          h("td", { class: "enabled" }, j.enabled ? "yes" : "no"),
          h("td", { class: "next" }, when(j.next_run, zone) + (j.next_estimated ? "*" : "")),
          h("td", {}, when(j.last_run?.fire, zone)),
          h("td", { class: "status" }, status(j.last_run)),
          h("td", { class: "error-text" }, j.last_run?.error || ""),
          h(
            "td",
            {},
            admin
              ? [
                  h("button", { class: "edit", onclick: () => edit(j) }, "Edit"),
                  " ",
                  h("button", { class: "run", onclick: () => runNow(j.name) }, "Run now"),
                ]
              : null,
          ),
        ),
      ),
    );
  }

  async function load() {
    try {
      const body = await api("/api/v2/jobs");
      if (disposed) return;
      zone = body.timezone;
      page.dataset.jobs = String(body.jobs.length);
      renderTimeline(body.jobs);
      renderRows(body.jobs);
      if (selected) await loadHistory(selected);
    } catch (err) {
      if (!disposed) fail(err);
    }
  }

  async function loadHistory(name) {
    const runs = await api(`/api/v2/jobs/${encodeURIComponent(name)}/runs`, { query: { limit: 100 } });
    if (disposed) return;
    historyTitle.textContent = `Run history: ${name}`;
    page.dataset.history = name;
    replace(
      historyRows,
      runs.map((r) =>
        h(
          "tr",
          { dataset: { run: String(r.id), status: r.status } },
          h("td", {}, String(r.id)),
          h("td", {}, when(r.fire, zone)),
          h("td", {}, r.trigger),
          h("td", {}, String(r.attempt)),
          h("td", {}, status(r)),
          h("td", {}, when(r.started, zone)),
          h("td", {}, when(r.finished, zone)),
          h("td", {}, r.wall_seconds === null ? "–" : String(r.wall_seconds)),
          h("td", { class: "error-text" }, r.error || ""),
        ),
      ),
    );
  }

  function pick(event, name) {
    event.preventDefault();
    selected = name;
    loadHistory(name).catch(fail);
  }

  function edit(job) {
    const spec = h("input", { id: "job-schedule", value: job.schedule, size: 28 });
    const enabled = h("input", { id: "job-enabled", type: "checkbox", checked: job.enabled });
    const msg = h("span", { id: "job-editor-msg", class: "muted" });
    async function save(event) {
      event.preventDefault();
      error.textContent = "";
      try {
        await api(`/api/v2/jobs/${encodeURIComponent(job.name)}`, {
          method: "PUT",
          body: { schedule: spec.value.trim(), enabled: enabled.checked },
        });
        editor.hidden = true;
        await load();
      } catch (err) {
        msg.textContent = err.message || String(err);
      }
    }
    replace(
      editor,
      h("h3", {}, `Edit ${job.name}`),
      h(
        "form",
        { id: "job-form", onsubmit: save },
        h("label", {}, "schedule ", spec),
        " ",
        h("label", {}, enabled, " enabled"),
        " ",
        h("button", { type: "submit", id: "job-save" }, "Save"),
        " ",
        h("button", { type: "button", onclick: () => (editor.hidden = true) }, "Cancel"),
        " ",
        msg,
      ),
      h(
        "p",
        { class: "muted" },
        "cron:M H DOM MON DOW (exchange time), every:<N><m|h|d|w>[@HH:MM], or once (jobs run at start).",
      ),
    );
    editor.hidden = false;
  }

  async function runNow(name) {
    error.textContent = "";
    try {
      await api(`/api/v2/jobs/${encodeURIComponent(name)}/run`, { method: "POST" });
      selected = name;
      await load();
    } catch (err) {
      fail(err);
    }
  }

  const live = channel("pipeline-status", {
    onStatus: badge.show,
    onMessage(type) {
      if (type !== "job" || reloadTimer) return;
      reloadTimer = setTimeout(() => {
        reloadTimer = null;
        load();
      }, 300);
    },
  });
  load();
  return () => {
    disposed = true;
    clearTimeout(reloadTimer);
    live.close();
  };
}
