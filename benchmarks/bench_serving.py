"""Serving: the cost of hot reload per prediction, and how soon a promotion is served.

* Per prediction, :class:`~quantdesk.models.serving.ModelServer` uses the cached
  model and reads the alias row (one indexed SQLite read) at most every 0.1 s:
  p99 of getting the served model that way and with the read on every call,
  beside loading the version from the registry on every call (read the
  artifact, check its SHA-256, deserialise: serving without a cache), on a
  ``linear`` version trained on a small control.
* Promotion to served: 4 threads keep asking for the champion while another
  promotes a new version; the time from the promotion's commit to the first
  answer by the new version (target: within one second, the issue's figure).
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from benchmarks._report import Figure, percentile
from quantdesk.models import service
from quantdesk.models.datasets.controls import control_bars, control_universe
from quantdesk.models.registry import ModelRegistry
from quantdesk.models.serving import ModelServer
from quantdesk.storage import open_store


def _setup(folder: Path) -> tuple[ModelServer, ModelRegistry]:
    bars, _ = control_bars("planted", n_stocks=6, n_days=60, seed=3)
    store = open_store(f"sqlite:///{folder / 'q.db'}")
    store.migrate()
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars)
    registry = ModelRegistry(store.engine, folder / "models")
    service.train(store, registry, "linear", holdout_days=0)
    service.train(store, registry, "linear", holdout_days=0, params={"alpha": 10.0})
    registry.promote("linear", 1)
    return ModelServer(store, registry), registry


def _check_cost(server: ModelServer, registry: ModelRegistry, n: int) -> list[Figure]:
    every_call = ModelServer(server.store, registry, reload_interval_s=0.0)
    server.served("linear")
    every_call.served("linear")
    served, checked, loaded = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        server.served("linear")
        served.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        every_call.served("linear")
        checked.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        registry.load("linear", "champion")
        loaded.append(time.perf_counter() - t0)
    return [
        Figure(
            "served champion (alias read at most every 0.1 s), p99",
            percentile(served, 99) * 1e6,
            "us",
            baseline=percentile(loaded, 99) * 1e6,
            baseline_name="load the version per call",
            higher_is_better=False,
        ),
        Figure(
            "served champion, alias row read on every call, p99",
            percentile(checked, 99) * 1e6,
            "us",
            baseline=percentile(loaded, 99) * 1e6,
            baseline_name="load the version per call",
            higher_is_better=False,
        ),
    ]


def _one_promotion(server: ModelServer, registry: ModelRegistry, target: int) -> float:
    """Milliseconds from promoting ``target`` to the first answer by it (4 readers)."""
    first: list[float] = []
    stop = threading.Event()
    promoted = [0.0]

    def ask() -> None:
        while not stop.is_set():
            pair = server.served("linear")
            if pair is not None and pair[1].version == target and promoted[0] and not first:
                first.append(time.perf_counter())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    registry.promote("linear", target)  # as another process would: no cache invalidation
    promoted[0] = time.perf_counter()
    deadline = time.perf_counter() + 2.0
    while not first and time.perf_counter() < deadline:
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join()
    return (first[0] - promoted[0]) * 1e3 if first else 2000.0


def _promotion(server: ModelServer, registry: ModelRegistry, rounds: int) -> list[Figure]:
    delays = [_one_promotion(server, registry, 2 if k % 2 == 0 else 1) for k in range(rounds)]
    return [
        Figure(
            "promotion -> first answer by the new champion, max",
            max(delays),
            "ms",
            higher_is_better=False,
            target=1000.0,
        )
    ]


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory() as d:
        server, registry = _setup(Path(d))
        try:
            return _check_cost(server, registry, 300 if quick else 3000) + _promotion(
                server, registry, 4 if quick else 20
            )
        finally:
            server.store.close()
