// The dashboard shell: hash routes, navigation, the session.

import { hooks, session } from "./api.js";
import { h, replace } from "./dom.js";
import * as backtests from "./pages/backtests.js";
import * as jobs from "./pages/jobs.js";
import * as login from "./pages/login.js";
import * as logs from "./pages/logs.js";
import * as market from "./pages/market.js";
import * as models from "./pages/models.js";
import * as orders from "./pages/orders.js";
import * as pipeline from "./pages/pipeline.js";
import * as sentiment from "./pages/sentiment.js";
import * as later from "./pages/later.js";
import { currentRoute } from "./route.js";

/** Navigation: pages that exist, then the places kept for later releases. */
const ROUTES = [
  { path: "market", title: "Market", page: market },
  { path: "sentiment", title: "Sentiment", page: sentiment },
  { path: "pipeline", title: "Pipeline", page: pipeline },
  { path: "logs", title: "Logs", page: logs, admin: true },
  { path: "jobs", title: "Jobs", page: jobs },
  { path: "orders", title: "Orders & positions", page: orders },
  { path: "backtests", title: "Backtests", page: backtests },
  { path: "models", title: "Models", page: models },
];

const nav = document.getElementById("nav");
const root = document.getElementById("page");
let unmount = null;

function renderNav(active) {
  const s = session.get();
  nav.hidden = !s;
  if (!s) return;
  const links = ROUTES.map((r) =>
    h(
      "a",
      {
        href: `#/${r.path}`,
        class: ["nav-link", r.path === active ? "active" : "", r.later ? "later" : ""].join(" "),
        dataset: { route: r.path },
        title: r.later ? `Comes with ${r.later}` : null,
      },
      r.title,
      r.admin ? h("span", { class: "tag" }, "admin") : null,
    ),
  );
  replace(
    nav,
    h("div", { class: "brand" }, "quantdesk"),
    h("div", { class: "links" }, links),
    h(
      "div",
      { class: "who" },
      h("span", { id: "who" }, `${s.username} · ${s.role}`),
      h("button", { id: "logout", class: "link", onclick: logout }, "Log out"),
    ),
  );
}

function logout() {
  session.clear();
  location.hash = "#/login";
}

hooks.unauthorized = () => {
  session.clear();
  if (currentRoute().path !== "login") location.hash = "#/login";
};

function mount() {
  if (unmount) {
    try {
      unmount();
    } catch (err) {
      console.error(err);
    }
    unmount = null;
  }
  const { path } = currentRoute();
  if (!session.get() && path !== "login") {
    location.hash = "#/login";
    return;
  }
  if (path === "login") {
    renderNav(null);
    unmount = login.mount(root);
    return;
  }
  const route = ROUTES.find((r) => r.path === path);
  if (!route) {
    // say so, never silently show another page
    renderNav(null);
    replace(
      root,
      h(
        "section",
        { id: "not-found", class: "card" },
        h("h2", {}, "No such page"),
        h("p", {}, `There is no page "#/${path}". `, h("a", { href: "#/market" }, "Go to Market"), "."),
      ),
    );
    return;
  }
  renderNav(route.path);
  replace(root);
  if (!window.LightweightCharts && route.page !== later) {
    root.append(
      h(
        "p",
        { class: "error" },
        "The chart library is missing: run `python -m quantdesk.web.assets` " +
          "(make install does) and reload.",
      ),
    );
  }
  unmount = route.page.mount(root, { route, params: currentRoute().params });
}

window.addEventListener("hashchange", mount);
mount();
