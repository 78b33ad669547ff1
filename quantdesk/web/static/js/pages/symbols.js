// Symbol search shared by the pages: an input with suggestions from /api/symbols.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { routeSymbol } from "../route.js";

let cached = null;

export async function loadSymbols() {
  if (!cached) cached = api("/api/symbols").catch((err) => ((cached = null), Promise.reject(err)));
  return cached;
}

/**
 * Load the universe into a picker: {symbols, symbol, note} with the wanted symbol
 * (any case, a bare code) if known, else the first and a note saying so.
 */
export async function pickInitial(picker, wanted) {
  const symbols = await loadSymbols();
  picker.setOptions(symbols);
  const { symbol, note } = routeSymbol(wanted, symbols, findExact);
  return { symbols, symbol, note };
}

/** A symbol the address names: exact, any case, or a bare code ("600036" -> 600036.SH). */
export function findExact(symbols, text) {
  const q = text.trim().toLowerCase();
  if (!q) return null;
  const code = (m) => m.symbol.toLowerCase().split(".")[0];
  const bare = symbols.filter((m) => code(m) === q);
  return symbols.find((m) => m.symbol.toLowerCase() === q) || (bare.length === 1 ? bare[0] : null);
}

/** Exact symbol, then a symbol prefix ("600036"), then a name substring, case-insensitive. */
export function findSymbol(symbols, text) {
  const q = text.trim().toLowerCase();
  if (!q) return null;
  return (
    symbols.find((m) => m.symbol.toLowerCase() === q) ||
    symbols.find((m) => m.symbol.toLowerCase().startsWith(q)) ||
    symbols.find((m) => m.name.toLowerCase().includes(q)) ||
    null
  );
}

/** {element, set(symbol), setOptions(symbols)}; onSelect(symbol) on a match. */
export function symbolPicker(onSelect) {
  let symbols = [];
  const list = h("datalist", { id: "symbol-list" });
  const input = h("input", {
    id: "symbol-search",
    type: "search",
    list: "symbol-list",
    placeholder: "Symbol or name",
    autocomplete: "off",
    spellcheck: "false",
    maxlength: 64,
    "aria-label": "symbol search",
  });
  const note = h("span", { class: "error small", id: "symbol-error" });
  function choose() {
    const match = findSymbol(symbols, input.value);
    if (!match) {
      note.textContent = input.value.trim() ? `no symbol matches "${input.value.trim()}"` : "";
      return;
    }
    note.textContent = "";
    input.value = match.symbol;
    input.blur();
    onSelect(match.symbol);
  }
  input.addEventListener("change", choose);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") choose();
  });
  return {
    element: h("div", { class: "picker" }, input, list, note),
    set(symbol) {
      if (document.activeElement !== input) input.value = symbol || "";
    },
    setOptions(next) {
      symbols = next;
      replace(
        list,
        next.map((m) => h("option", { value: m.symbol }, `${m.name} · ${m.sector}`)),
      );
    },
  };
}
