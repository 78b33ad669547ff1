// The hash route: "#/market?symbol=AAPL&interval=5m".

/** -> {path: "market", params: URLSearchParams} */
export function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { path: path || "market", params: new URLSearchParams(query) };
}

/** Update the hash's query without re-mounting the page (reload keeps the state). */
export function setParams(values) {
  const { path, params } = currentRoute();
  for (const [k, v] of Object.entries(values)) params.set(k, v);
  history.replaceState(null, "", `#/${path}?${params}`);
}
