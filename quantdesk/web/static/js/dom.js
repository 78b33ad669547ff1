// Building DOM nodes safely: text always goes in through text nodes, never as
// HTML, so untrusted strings (tweets, symbols, log lines) are shown, not run.

/**
 * h("div", {class: "card", dataset: {id: "x"}, onclick: fn}, "text", child, [more])
 * Attribute values are set with setAttribute (never parsed as markup); on* keys with a
 * function become event listeners; children that are not Nodes become text.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of el. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const numberFormats = new Map();

/** A number with a fixed count of decimals and thousands separators; "–" when missing. */
export function fmt(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  let f = numberFormats.get(digits);
  if (!f) {
    f = new Intl.NumberFormat("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormats.set(digits, f);
  }
  return f.format(value);
}

/** The "● live / connecting / closed" badge of a page's WebSocket; show(s) updates it. */
export function statusBadge() {
  const el = h("span", { id: "ws-status", class: "status" }, "connecting");
  return {
    el,
    show(state) {
      el.textContent = state;
      el.className = `status ${state}`;
    },
  };
}
