// Symbol search shared by the pages: an input with suggestions from /api/symbols.

import { api } from "../api.js";
import { h, replace } from "../dom.js";

let cached = null;

export async function loadSymbols() {
  if (!cached) cached = api("/api/symbols").catch((err) => ((cached = null), Promise.reject(err)));
  return cached;
}

/** Load the universe into a picker: {symbols, symbol} with the wanted symbol if known, else the first. */
export async function pickInitial(picker, wanted) {
  const symbols = await loadSymbols();
  picker.setOptions(symbols);
  const symbol = symbols.some((m) => m.symbol === wanted) ? wanted : symbols[0]?.symbol;
  return { symbols, symbol };
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
