"""Memory over a long run: ``quantdesk run --speed 60`` with 50 WebSocket clients.

The real command (simulator, stream, in-process bus, SQLite, API, hub) runs
for 30 minutes (quick: 3) at 60x real time, i.e. 30 hours of market time,
while 50 clients subscribed to every symbol and interval on ``/ws/market``
receive what it produces (in a process of their own). The resident set size
(``VmRSS``) of the ``run`` process is sampled every 10 s. Figures: RSS at
the end of the warm-up (5 minutes; quick: 1) as the baseline, RSS at the end,
the largest RSS seen, and the growth after warm-up (target: under 5%). The
RSS every 5 minutes (quick: every minute) is printed too, so the curve can be
read. Issue 16 measured the previous release at 648 -> 1,068 MiB in 45
minutes at 1x (no client), still climbing.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import Figure
from benchmarks.bench_fanout import clients_process, start_run, stop

CLIENTS = 50
SAMPLE_S = 10.0


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def sqlite_mib(base: str) -> float:
    """``quantdesk_sqlite_memory_bytes`` from the run's /metrics (0 where SQLite is not probed)."""
    import httpx

    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith("quantdesk_sqlite_memory_bytes "):
            return float(line.split()[1]) / 2**20
    return 0.0


def run(quick: bool) -> list[Figure]:
    if quick:
        return soak(minutes=3.0, warmup=1.0, every=1.0)
    return soak(minutes=30.0, warmup=5.0, every=5.0)


def soak(minutes: float, warmup: float, every: float) -> list[Figure]:
    samples: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="qd-bench-soak-") as d:
        proc, base = start_run(Path(d))
        try:
            kids = clients_process(base, CLIENTS, minutes * 60, {"symbols": ["*"], "intervals": []})
            assert kids.stdout is not None
            if "READY" not in kids.stdout.readline():
                raise RuntimeError("the clients did not connect")
            t0 = time.monotonic()
            while (elapsed := time.monotonic() - t0) < minutes * 60:
                samples.append((elapsed / 60, rss_mib(proc.pid), sqlite_mib(base)))
                if proc.poll() is not None:
                    raise RuntimeError("quantdesk run died during the soak")
                time.sleep(SAMPLE_S)
            samples.append(((time.monotonic() - t0) / 60, rss_mib(proc.pid), sqlite_mib(base)))
            out, _ = kids.communicate(timeout=300)
            frames = json.loads(out.strip().splitlines()[-1])["frames"]
        finally:
            stop(proc)
    after = [(rss, lite) for t, rss, lite in samples if t >= warmup]
    at_warmup, lite_warmup = after[0]
    _, final, lite_final = samples[-1]
    label = f"--speed 60, {CLIENTS} clients, {minutes:g} min"
    figures = [
        Figure(
            f"RSS at the end ({label})",
            final,
            "MiB",
            baseline=at_warmup,
            baseline_name=f"after {warmup:g} min warm-up",
            higher_is_better=False,
        ),
        Figure(f"RSS, largest after warm-up ({label})", max(rss for rss, _ in after), "MiB"),
        Figure(
            f"RSS growth after warm-up ({label})",
            (final - at_warmup) / at_warmup * 100,
            "%",
            higher_is_better=False,
            target=5,
        ),
        Figure(f"WS frames received per client ({label})", frames / CLIENTS, "frames"),
        Figure(
            f"SQLite memory at the end ({label})",
            lite_final,
            "MiB",
            baseline=lite_warmup,
            baseline_name=f"after {warmup:g} min warm-up",
            higher_is_better=False,
        ),
    ]
    mark = 0.0
    for t, rss, lite in samples:
        if t >= mark:
            figures.append(Figure(f"RSS at {t:5.1f} min ({label})", rss, "MiB"))
            figures.append(Figure(f"SQLite memory at {t:5.1f} min ({label})", lite, "MiB"))
            mark += every
    return figures


if __name__ == "__main__":
    for fig in run(quick="--quick" in sys.argv):
        print(fig.line(), flush=True)
