"""API keys and the request limiter beside token authentication, on the /api/klines load.

The issue's bound: API throughput with API-key authentication and the rate
limiter on is at most 10% below token authentication, on the same
``/api/klines`` benchmark (:mod:`benchmarks.bench_api`: 100 keep-alive
clients, the newest 200 1m bars of one of 10 symbols per request, a SQLite
store of ~1M bars, quick: 100k, one uvicorn process configured as
``quantdesk serve``).

Two servers on the same store, both started before measuring and loaded one
at a time, in alternating order over several rounds (the machine is shared:
alternation keeps a slow spell from landing on one side only):

* **token**: every request carries ``Authorization: Bearer <JWT>``, verified
  by the API gate; the request limiter is off (``QUANTDESK_RATE_LIMIT_PER_MINUTE=0``),
  as before API keys existed;
* **anon** (context): no credential and no limiter, the public feed as it
  was before (on the token server);
* **key**: every request carries ``X-API-Key: <key>`` (looked up through the
  key cache, ``last_used`` written once a minute), and every request takes a
  token from the key's bucket (the limiter on, with limits no client reaches:
  the cost of limiting, not its refusals, is measured).

Two figures: requests per second (the issue's figure; on a machine shared
with other work it swings by tens of percent from one second to the next,
which the alternation only partly evens out), and the server's CPU time per
``/api/klines`` request (the process's user + system time from
``/proc/<pid>/stat`` over the requests its own ``/metrics`` counted), which
other load on the machine barely moves: it is the cost of authenticating and
limiting itself. Before measuring, the benchmark checks that both credentials
are really checked (a wrong one gets 401). Run it alone:
``python -m benchmarks apikeys``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from pathlib import Path

import httpx

from benchmarks._report import Figure, percentile
from benchmarks.bench_api import CONCURRENCY, SECRET, SYMBOLS, _build_store, _load, _start, _stop


def _key(base: str) -> str:
    """An API key (scope read, user test) made through the admin API."""
    login = httpx.post(
        f"{base}/api/auth/token", data={"username": "admin", "password": "bench-admin"}, timeout=30
    )
    login.raise_for_status()
    made = httpx.post(
        f"{base}/api/keys",
        json={"user": "test", "scope": "read", "name": "bench"},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=30,
    )
    made.raise_for_status()
    return str(made.json()["key"])


def _checked(base: str, good: dict[str, str], bad: dict[str, str]) -> None:
    url = f"{base}/api/klines?symbol={SYMBOLS[0]}&limit=5"
    assert httpx.get(url, headers=good, timeout=30).status_code == 200
    assert httpx.get(url, headers=bad, timeout=30).status_code == 401, "credential not checked"


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _served(base: str) -> float:
    """How many ``GET /api/klines`` 200s the server has counted (its /metrics)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("quantdesk_http_request_duration_seconds_count{")
        and 'route="/api/klines"' in line
        and 'status="200"' in line
    )


def run(quick: bool) -> list[Figure]:
    from quantdesk.auth import TokenService

    n_bars = 100_000 if quick else 1_000_000
    seconds = 2.0 if quick else 4.0
    rounds = 2 if quick else 6
    with tempfile.TemporaryDirectory(prefix="qd-bench-keys-") as d:
        tmp = Path(d)
        _build_store(f"sqlite:///{(tmp / 'quantdesk.db').as_posix()}", n_bars)
        token_proc, token_base = _start(
            "quantdesk", tmp, env={"QUANTDESK_RATE_LIMIT_PER_MINUTE": "0"}
        )
        key_proc, key_base = _start("quantdesk", tmp)
        try:
            jwt = TokenService(SECRET).issue("bench", "guest")
            key = _key(key_base)
            _checked(token_base, {"Authorization": f"Bearer {jwt}"}, {"Authorization": "Bearer x"})
            _checked(key_base, {"X-API-Key": key}, {"X-API-Key": key[:-1] + "!"})
            sides = {
                "token": (token_base, token_proc.pid, f"Authorization: Bearer {jwt}\r\n"),
                "key": (key_base, key_proc.pid, f"X-API-Key: {key}\r\n"),
                "anon": (token_base, token_proc.pid, ""),
            }
            rps: dict[str, list[float]] = {side: [] for side in sides}
            lat: dict[str, list[float]] = {side: [] for side in sides}
            cpu: dict[str, list[float]] = {side: [0.0, 0.0] for side in sides}
            for k in range(rounds):
                order = ["token", "key", "anon"] if k % 2 == 0 else ["anon", "key", "token"]
                for side in order:
                    base, pid, header = sides[side]
                    n0, c0 = _served(base), _cpu_s(pid)
                    r, latencies = asyncio.run(_load(base, seconds, headers=header))
                    c1, n1 = _cpu_s(pid), _served(base)
                    cpu[side][0] += c1 - c0
                    cpu[side][1] += n1 - n0
                    rps[side].append(r)
                    lat[side].extend(latencies)
        finally:
            _stop(token_proc)
            _stop(key_proc)
    token_rps, key_rps = statistics.mean(rps["token"]), statistics.mean(rps["key"])
    token_cpu = cpu["token"][0] / cpu["token"][1] * 1e6
    key_cpu = cpu["key"][0] / cpu["key"][1] * 1e6
    anon_cpu = cpu["anon"][0] / cpu["anon"][1] * 1e6
    label = f"{n_bars // 1000}k bars, {CONCURRENCY} clients, {rounds} rounds"
    rounds_s = ", ".join(
        f"{a:,.0f}/{b:,.0f}" for a, b in zip(rps["key"], rps["token"], strict=True)
    )
    return [
        Figure(
            f"/api/klines req/s, API key + limiter ({label})",
            key_rps,
            "req/s",
            baseline=token_rps,
            baseline_name="token auth",
            target=0.9 * token_rps,  # at most 10% slower
        ),
        Figure(
            f"/api/klines p95, API key + limiter ({label})",
            percentile(lat["key"], 95) * 1000,
            "ms",
            baseline=percentile(lat["token"], 95) * 1000,
            baseline_name="token auth",
            higher_is_better=False,
        ),
        Figure(
            f"server CPU per /api/klines request, API key + limiter ({label})",
            key_cpu,
            "us",
            baseline=token_cpu,
            baseline_name="token auth",
            higher_is_better=False,
            target=1.1 * token_cpu,  # the same bound, on the cost itself
        ),
        Figure(
            f"server CPU per /api/klines request, API key + limiter ({label})",
            key_cpu,
            "us",
            baseline=anon_cpu,
            baseline_name="no credential, no limiter",
            higher_is_better=False,
        ),
        Figure(f"  key/token req/s per round: {rounds_s}", key_rps / token_rps, "x"),
    ]


if __name__ == "__main__":
    import sys

    for fig in run(quick="--quick" in sys.argv):
        print(fig.line(), flush=True)
