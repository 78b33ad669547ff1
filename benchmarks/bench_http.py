"""HTTP under load: ``/api/klines`` and ``/health`` at 100 connections, 1 and 2 API processes.

The server is the real command, ``quantdesk serve --workers N``, over a
SQLite store of 1M bars (quick: 100k). Two load generators, one after the
other, on the same server:

* **wrk** (Debian's package; ``scripts/install-wrk`` installs it when it is
  missing): ``-t2 -c100`` with a Lua script that rotates the ten symbols and
  prints p50/p95/p99 and the requests that timed out (wrk's 2 s timeout);
* **the project's own** asyncio generator (:func:`benchmarks.bench_api._load`):
  100 keep-alive connections.

Both share the machine's cores with the server, as a co-located client
would. Figures: requests/s, p95 and p99 (targets: p95 <= 50 ms, p99 <= 100
ms, no timeouts). The 2-process figures are printed beside the 1-process
ones. With ``QD_BENCH_BASELINE_TREE=/path/to/checkout`` (e.g. a git worktree
of the previous release) the 1-process figures are also measured with that
checkout's ``quantdesk serve`` (run with it first on ``PYTHONPATH``) and
printed as their baseline: both columns in one run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks._report import Figure, percentile
from benchmarks.bench_api import SYMBOLS, _build_store, _env, _free_port, _load, klines_path

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 100

_LUA_COMMON = """
done = function(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d duration_us=%d timeouts=%d errors=%d p50=%d p95=%d p99=%d\\n",
    summary.requests, summary.duration, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""
_LUA_KLINES = (
    "local symbols = {"
    + ", ".join(f'"{s}"' for s in SYMBOLS)
    + """}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/klines?symbol=" .. symbols[(n % #symbols) + 1] .. "&limit=200")
end
"""
    + _LUA_COMMON
)

ENDPOINTS = {
    "/api/klines": (
        _LUA_KLINES,
        "/",
        klines_path,
        lambda body: len(orjson.loads(body)) == 200,
    ),
    "/health": (
        _LUA_COMMON,
        "/health",
        lambda _i: "/health",
        lambda body: orjson.loads(body)["status"] == "ok",
    ),
}


def wrk_binary() -> str:
    """wrk on PATH (or QUANTDESK_WRK), installed with scripts/install-wrk when missing."""
    found = os.environ.get("QUANTDESK_WRK") or shutil.which("wrk")
    if not found:
        subprocess.run([str(ROOT / "scripts" / "install-wrk")], check=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is needed: run scripts/install-wrk")
    return found


def _serve(tmp: Path, workers: int, tree: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = _env(tmp)
    if tree:
        env["PYTHONPATH"] = tree
    args = [sys.executable, "-m", "quantdesk", "serve", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=tree or ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"quantdesk serve died: {err[-2000:]}")
        try:
            httpx.get(base + klines_path(0), timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("quantdesk serve did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_wrk(base: str, script: str, path: str, seconds: float, tmp: Path) -> dict[str, float]:
    """One wrk run: req/s, p50/p95/p99 (ms), timeouts, errors."""
    lua = tmp / f"wrk-{abs(hash(script))}.lua"
    lua.write_text(script)
    wrk = wrk_binary()
    url = base + path
    subprocess.run(  # warm-up
        [wrk, "-t2", f"-c{CONNECTIONS}", "-d2s", "-s", str(lua), url],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{int(seconds)}s",
            "--timeout",
            "2s",
            "-s",
            str(lua),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    m = re.search(r"RESULT (.*)", out)
    if m is None:
        raise RuntimeError(f"wrk printed no result: {out[-1000:]}")
    fields = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return {
        "rps": fields["requests"] / (fields["duration_us"] / 1e6),
        "p50": fields["p50"] / 1000,
        "p95": fields["p95"] / 1000,
        "p99": fields["p99"] / 1000,
        "timeouts": fields["timeouts"],
        "errors": fields["errors"],
    }


def run_own(base: str, endpoint: str, seconds: float) -> dict[str, float]:
    _script, _path, path_of, check = ENDPOINTS[endpoint]
    rps, lat = asyncio.run(_load(base, seconds, path=path_of, check=check))
    ms = [x * 1000 for x in lat]
    return {
        "rps": rps,
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
    }


def measure(tmp: Path, workers: int, seconds: float, tree: str | None = None) -> dict[str, Any]:
    """Every endpoint with both generators on one ``quantdesk serve --workers N``."""
    proc, base = _serve(tmp, workers, tree)
    results: dict[str, Any] = {}
    try:
        for endpoint, (script, path, _p, _c) in ENDPOINTS.items():
            results[(endpoint, "wrk")] = run_wrk(base, script, path, seconds, tmp)
            results[(endpoint, "own")] = run_own(base, endpoint, seconds)
    finally:
        _stop(proc)
    return results


def _figures(
    endpoint: str,
    tool: str,
    label: str,
    got: dict[str, float],
    base: dict[str, float] | None,
    base_name: str,
) -> list[Figure]:
    name = f"{endpoint} {tool} ({label})"
    b = base or {}
    out = [
        Figure(f"{name} req/s", got["rps"], "req/s", b.get("rps"), base_name),
        Figure(f"{name} p50", got["p50"], "ms", b.get("p50"), base_name, higher_is_better=False),
        Figure(f"{name} p95", got["p95"], "ms", b.get("p95"), base_name, False, target=50),
        Figure(f"{name} p99", got["p99"], "ms", b.get("p99"), base_name, False, target=100),
    ]
    if tool == "wrk":
        out.append(
            Figure(
                f"{name} timeouts+errors",
                got["timeouts"] + got["errors"],
                "requests",
                None if base is None else base["timeouts"] + base["errors"],
                base_name,
                higher_is_better=False,
                target=0,
            )
        )
    return out


def run(quick: bool) -> list[Figure]:
    wrk_binary()
    n_bars = 100_000 if quick else 1_000_000
    seconds = 4.0 if quick else 10.0
    baseline_tree = os.environ.get("QD_BENCH_BASELINE_TREE")
    with tempfile.TemporaryDirectory(prefix="qd-bench-http-") as d:
        tmp = Path(d)
        _build_store(f"sqlite:///{(tmp / 'quantdesk.db').as_posix()}", n_bars)
        before = None
        if baseline_tree:  # on its own copy of the store: each release migrates its own
            old = tmp / "previous"
            old.mkdir()
            shutil.copy(tmp / "quantdesk.db", old / "quantdesk.db")
            before = measure(old, 1, seconds, baseline_tree)
        one = measure(tmp, 1, seconds)
        two = measure(tmp, 2, seconds)
    label = f"{n_bars // 1000}k bars, {CONNECTIONS} connections"
    figures: list[Figure] = []
    for key in one:
        endpoint, tool = key
        figures += _figures(
            endpoint,
            tool,
            f"{label}, 1 process",
            one[key],
            before[key] if before else None,
            "previous release",
        )
        figures += _figures(
            endpoint, tool, f"{label}, 2 processes", two[key], one[key], "1 process"
        )
    return figures


if __name__ == "__main__":
    for fig in run(quick="--quick" in sys.argv):
        print(fig.line(), flush=True)
