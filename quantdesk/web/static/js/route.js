// The hash route: "#/market?symbol=AAPL&interval=5m".

/** -> {path: "market", params: URLSearchParams} */
export function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: path || "market", params: new URLSearchParams(query) };
}

/**
 * What a page makes of the route's symbol: the matching symbol (any case, a bare
 * code), else the first one with a note saying the asked one is unknown.
 * -> {symbol, note}
 */
export function routeSymbol(asked, symbols, find) {
  if (!asked) return { symbol: symbols[0]?.symbol ?? null, note: "" };
  const match = find(symbols, asked);
  if (match) return { symbol: match.symbol, note: "" };
  const first = symbols[0]?.symbol ?? null;
  return {
    symbol: first,
    note: `Unknown symbol "${asked}" in the address: showing ${first ?? "nothing"} instead.`,
  };
}

/** Update the hash's query without re-mounting the page (reload keeps the state). */
export function setParams(values) {
  const { path, params } = currentRoute();
  for (const [k, v] of Object.entries(values)) params.set(k, v);
  history.replaceState(null, "", `#/${path}?${params}`);
}
