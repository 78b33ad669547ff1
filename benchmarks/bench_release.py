"""This release beside the previous one, side by side in one run: no regression.

The issues ask that a change keep the backfill (SQLite and PostgreSQL),
``/api/klines`` at 100 clients and the store-level klines query within 10% of
the previous release or better. Both releases run the same workloads
(:mod:`benchmarks.release_child`, in subprocesses whose ``PYTHONPATH`` names
each release's package) in alternating order, ``QUANTDESK_BENCH_ROUNDS``
rounds (default 3): the figure is this release's median, the baseline the
previous release's median, and the name carries both ranges (min-max), since
the machine is shared and a single run proves little. Beside each wall-clock
figure is the CPU time the workload took (the process's own, so less
sensitive to other load on the machine than the wall clock).

``QUANTDESK_BASELINE`` names the previous release: a git revision (default
``main``; its ``quantdesk`` package is taken with ``git archive``) or a folder
holding a ``quantdesk`` package (e.g. a ``git worktree`` of it).

Workloads: the backfill of ``bench_backfill`` (100 symbols x 242 days; quick
10 x 20) into a fresh SQLite file and a fresh PostgreSQL database;
``query_bars(limit=200)`` on a 1M-bar store (quick 100k) built once by this
release, on both backends; ``/api/klines`` from 100 keep-alive clients for 10 s
(quick 3 s) against each release's server over the same SQLite store, as
``bench_api`` measures it; and the stream sink's writes (factor values and
signals, 205 rows a batch) on both backends.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks._report import Figure, percentile

REPO = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("release_child.py")


@contextmanager
def previous_release() -> Iterator[tuple[Path, str]]:
    """A folder whose ``quantdesk`` package is the previous release, and its name."""
    spec = os.environ.get("QUANTDESK_BASELINE", "main")
    if Path(spec).is_dir():
        folder = Path(spec).resolve()
        if not (folder / "quantdesk" / "__init__.py").is_file():
            raise SystemExit(f"QUANTDESK_BASELINE={spec}: no quantdesk package in that folder")
        yield folder, str(folder)
        return
    proc = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", spec, "quantdesk"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"QUANTDESK_BASELINE={spec}: {proc.stderr.decode().strip()}")
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", spec], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="qd-previous-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp), rev


def _child(tree: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(CHILD), *args],
        env={**(env or os.environ), "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} under {tree} failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["package"].startswith(str(tree)):
        raise RuntimeError(f"{args[0]} ran {result['package']}, not the package in {tree}")
    return result


def _serve_and_load(tree: Path, url: str, tmp: Path, seconds: float) -> tuple[float, float, float]:
    """(req/s, p95 ms, server CPU us per request) of ``/api/klines`` from 100 clients
    against ``tree``'s server."""
    import httpx

    from benchmarks.bench_api import SYMBOLS, _env, _free_port, _load

    port = _free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    cpu_file = tmp / f"cpu-{port}.json"
    env = {
        **_env(tmp),
        "QUANTDESK_DATABASE_URL": url,
        "PYTHONPATH": str(tree),
        "QD_BENCH_CPU_FILE": str(cpu_file),
    }
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "serve", url, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server under {tree} died: {err[-2000:]}")
            try:
                httpx.get(base + "/api/klines", params={"symbol": SYMBOLS[0]}, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        rps, lat = asyncio.run(_load(base, seconds))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    # The serving CPU (warm-up second included) per request measured.
    cpu_us = json.loads(cpu_file.read_text()) / (rps * seconds) * 1e6
    return rps, percentile(lat, 95) * 1000, cpu_us


@contextmanager
def _postgres(root: Path) -> Iterator[Any]:
    from benchmarks.bench_storage import embedded_postgres_server

    with embedded_postgres_server(root) as server:
        yield server


def run(quick: bool) -> list[Figure]:
    rounds = int(os.environ.get("QUANTDESK_BENCH_ROUNDS", "3"))
    n_sym, n_days = (10, 20) if quick else (100, 242)
    n_bars = 100_000 if quick else 1_000_000
    n_queries = 300 if quick else 2_000
    seconds = 3.0 if quick else 10.0
    batches = 50 if quick else 300
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)

    from benchmarks.bench_storage import new_database

    with previous_release() as (old_tree, old_name):
        trees = {"previous": old_tree, "this": REPO}
        root = Path(tempfile.mkdtemp(prefix="qd-bench-release-"))
        try:
            with _postgres(root / "pg") as server:
                kl_sqlite = f"sqlite:///{(root / 'klines' / 'quantdesk.db').as_posix()}"
                kl_pg = new_database(server, "klines")
                for url in (kl_sqlite, kl_pg):
                    _child(REPO, "build", url, str(n_bars))
                for r in range(rounds):
                    order = list(trees) if r % 2 == 0 else list(reversed(trees))
                    for name in order:
                        tree = trees[name]
                        for backend, url in (
                            ("SQLite", f"sqlite:///{(root / f'bf-{name}-{r}.db').as_posix()}"),
                            ("PostgreSQL", new_database(server, f"bf_{name}_{r}")),
                        ):
                            res = _child(tree, "backfill", url, str(n_sym), str(n_days))
                            samples[(f"backfill {backend} rows/s", name)].append(
                                res["rows"] / res["seconds"]
                            )
                            samples[(f"backfill {backend} CPU s per 1M rows", name)].append(
                                res["cpu"] / res["rows"] * 1e6
                            )
                            sink_url = (
                                f"sqlite:///{(root / f'sink-{name}-{r}.db').as_posix()}"
                                if backend == "SQLite"
                                else new_database(server, f"sink_{name}_{r}")
                            )
                            res = _child(tree, "sink", sink_url, str(batches))
                            samples[(f"sink {backend} rows/s", name)].append(
                                res["rows"] / res["seconds"]
                            )
                            samples[(f"sink {backend} CPU ms per 1k rows", name)].append(
                                res["cpu"] / res["rows"] * 1e6
                            )
                        for f in root.glob(f"bf-{name}-{r}.db*"):
                            f.unlink()
                        for backend, url in (("SQLite", kl_sqlite), ("PostgreSQL", kl_pg)):
                            res = _child(tree, "query", url, str(n_queries), str(r))
                            lat = res["latencies"]
                            for q in (50, 95):
                                samples[(f"{backend} query_bars(limit=200) p{q} ms", name)].append(
                                    percentile(lat, q) * 1000
                                )
                            samples[(f"{backend} query_bars CPU us per query", name)].append(
                                res["cpu"] / len(lat) * 1e6
                            )
                        rps, p95, cpu = _serve_and_load(tree, kl_sqlite, root / "api", seconds)
                        samples[("/api/klines 100 clients req/s", name)].append(rps)
                        samples[("/api/klines 100 clients p95 ms", name)].append(p95)
                        samples[("/api/klines server CPU us per request", name)].append(cpu)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    figures = []
    metrics = dict.fromkeys(metric for metric, _ in samples)
    for metric in metrics:
        this, prev = samples[(metric, "this")], samples[(metric, "previous")]
        higher = metric.endswith("/s")
        figures.append(
            Figure(
                f"{metric} [this {_range(this)} | previous {_range(prev)}]",
                statistics.median(this),
                metric.rsplit(" ", 1)[-1] if higher else "",
                baseline=statistics.median(prev),
                baseline_name=f"previous ({old_name}) median",
                higher_is_better=higher,
                # within 10% of the previous release, or better
                target=statistics.median(prev) * (0.9 if higher else 1.1),
            )
        )
    size = f"{n_sym} sym x {n_days} d backfill, {n_bars:,} bars queried, {rounds} rounds"
    figures.append(Figure(f"(sizes: {size})", rounds, "rounds"))
    return figures


def _range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,.3g}-{hi:,.3g}"


if __name__ == "__main__":
    for fig in run(quick="--quick" in sys.argv):
        print(fig.line(), flush=True)
