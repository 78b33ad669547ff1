"""Shared reporting for benchmarks: each figure is printed beside its baseline and target."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure.

    ``higher_is_better`` decides the ratio's direction: the ratio printed is
    always "how many times better than the baseline" (>1 means better).
    ``target`` is the issue's goal in the same unit; ``met`` says if it holds.
    """

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = True
    target: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or self.value == 0:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def line(self) -> str:
        parts = [f"{self.name:<58} {self.value:>14,.3f} {self.unit}"]
        if self.baseline is not None:
            ratio = self.ratio
            ratio_s = f"{ratio:.1f}x" if ratio is not None else "n/a"
            parts.append(f"| {self.baseline_name or 'baseline'} {self.baseline:,.3f} -> {ratio_s}")
        if self.target is not None:
            op = ">=" if self.higher_is_better else "<="
            parts.append(f"| target {op} {self.target:,.6g} {'OK' if self.met else 'MISSED'}")
        return " ".join(parts)


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...; elapsed()`` gives seconds since entry."""
    t0 = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - t0
    end.append(time.perf_counter())


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of ``values`` by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]
