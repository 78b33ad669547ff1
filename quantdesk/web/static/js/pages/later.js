// Places in the navigation for pages that later releases add.

import { h, replace } from "../dom.js";

export function mount(root, { route }) {
  replace(
    root,
    h(
      "section",
      { class: "card later-page" },
      h("h2", {}, route.title),
      h("p", { class: "muted" }, `This page comes with ${route.later}; it is not built yet.`),
    ),
  );
  return () => {};
}
