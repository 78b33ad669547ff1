"""Models: LSTM serving latency, training speed, incremental update, evaluation tables.

* Serving (ONNX Runtime, one thread): p99 of one stock's prediction (target
  1 ms, wall time) and the median of all 4,000 stocks in one batch (target
  20 ms), beside the same network in PyTorch eager mode (``torch.no_grad``, one
  thread) on the same inputs. The batch figure is CPU time of this process, as
  in ``bench_indicators``: on this shared 2-core machine other work preempts
  a 20 ms call often, and one thread's CPU time is its wall time on an idle
  machine; the wall-time median is printed beside it.
* Training: seed B's LSTM (2 -> 2, hidden 16, window 20, batch 256, one
  thread) at seed B's scale, 4,000 stocks x 500 days = 2,000,000 rows: the
  time of ``TRAIN_BATCHES`` batches, scaled to a whole epoch (a full epoch
  takes minutes on this shared 2-core machine; the batches are identical in
  cost). Beside it, the same batches on 2 threads.
* Incremental weekly update vs a full retrain, on ``INC_STOCKS`` x 500 days of
  synthetic seed-B rows with a planted signal: the parent trains on the first
  495 days; the weekly update continues from it on the 5 new days
  (``incremental_epochs`` 3); the full retrain trains from scratch on all 500
  days with the parent's epochs. Both then predict the following 20 days:
  direction accuracy with its day-clustered 95 % interval (within noise when
  the intervals overlap). Target: the update at least 10 x faster.
* Evaluation tables (printed): every model beside the baselines on the
  planted and random-walk controls and on the real daily sample data
  (``bokeh-sampledata``), the same walk-forward as ``quantdesk model evaluate``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np

from benchmarks._report import Figure, percentile, stopwatch
from quantdesk.models.datasets.base import Dataset

STOCKS = 4000
DAYS = 500
SEQ = 20
TRAIN_BATCHES = 300
INC_STOCKS = 1000
INC_EPOCHS = 2


def synthetic_morning(stocks: int, days: int, beta: float = 0.5, seed: int = 0) -> Dataset:
    """Seed-B rows for ``stocks`` x ``days`` drawn directly (no 1m bars): the morning
    return ``a``, overnight gaps ``g[t+1] = beta * a[t] + noise`` and afternoon moves ``p``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.012, (stocks, days + 1))
    p = rng.normal(0, 0.010, (stocks, days + 1))
    g = np.empty_like(a)
    g[:, 0] = rng.normal(0, 0.004, stocks)
    g[:, 1:] = beta * a[:, :-1] + rng.normal(0, 0.004, (stocks, days))
    open_ratio = g[:, :-1]
    close_ratio = g[:, :-1] + a[:, :-1]
    next_open = p[:, :-1] + g[:, 1:]
    next_close = next_open + a[:, 1:]
    n = stocks * days
    first = np.datetime64("2022-01-03")
    day = np.busday_offset(first, np.arange(days), roll="forward")
    x = np.column_stack(
        [open_ratio.ravel(), close_ratio.ravel(), close_ratio.ravel(), close_ratio.ravel()]
    )
    return Dataset(
        name="morning",
        symbols=np.repeat(np.array([f"S{i:04d}" for i in range(stocks)], dtype=object), days),
        days=np.tile(day, stocks),
        decision_time=np.zeros(n, dtype=np.int64),
        x=x,
        y=np.column_stack([next_open.ravel(), next_close.ravel()]),
        features=("open_ratio", "close_ratio", "am_open_chg", "am_close_chg"),
        targets=("next_open", "next_close"),
        return_target="next_close",
        naive={"next_open": "am_open_chg", "next_close": "am_close_chg"},
        reference=np.full(n, 10.0),
    )


def _trained_lstm(data: Dataset, epochs: int, seed: int = 0) -> Any:
    from quantdesk.models.base import model_class

    return model_class("lstm")({"epochs": epochs, "seq_len": SEQ}, seed=seed).fit(data)


def _serving(quick: bool) -> list[Figure]:
    import torch

    from quantdesk.models.base import model_from_bytes

    data = synthetic_morning(50, 60)
    model = _trained_lstm(data, epochs=1)
    served = model_from_bytes(model.to_bytes())  # ONNX Runtime from here on
    rng = np.random.default_rng(1)
    one = rng.normal(0, 0.01, (1, SEQ, 2)).astype(np.float32)
    batch = rng.normal(0, 0.01, (STOCKS, SEQ, 2)).astype(np.float32)
    n_single = 2000 if quick else 20000
    n_batch = 20 if quick else 200
    torch.set_num_threads(1)

    def lat(fn: Any, x: np.ndarray, n: int, cpu: bool = False) -> list[float]:
        for _ in range(min(n, 50)):
            fn(x)
        out = []
        clock = time.process_time if cpu else time.perf_counter
        for _ in range(n):
            t0 = clock()
            fn(x)
            out.append((clock() - t0) * 1e3)
        return out

    ort_1 = lat(served.predict_windows, one, n_single)
    torch_1 = lat(model.predict_windows, one, n_single // 4)
    ort_b = lat(served.predict_windows, batch, n_batch, cpu=True)
    torch_b = lat(model.predict_windows, batch, n_batch // 2, cpu=True)
    wall_b = lat(served.predict_windows, batch, n_batch // 2)
    print(f"  4000-stock batch, wall-time median (onnxruntime): {percentile(wall_b, 50):.2f} ms")
    np.testing.assert_allclose(
        served.predict_windows(batch), model.predict_windows(batch), rtol=1e-4, atol=1e-6
    )
    return [
        Figure(
            "lstm: one stock, p99 (onnxruntime)",
            percentile(ort_1, 99),
            "ms",
            percentile(torch_1, 99),
            "pytorch eager",
            higher_is_better=False,
            target=1.0,
        ),
        Figure(
            f"lstm: {STOCKS} stocks in one batch, median CPU (onnxruntime)",
            percentile(ort_b, 50),
            "ms",
            percentile(torch_b, 50),
            "pytorch eager",
            higher_is_better=False,
            target=20.0,
        ),
        Figure(
            f"lstm: {STOCKS} stocks in one batch, p99 CPU (onnxruntime)",
            percentile(ort_b, 99),
            "ms",
            percentile(torch_b, 99),
            "pytorch eager",
            higher_is_better=False,
        ),
    ]


def _epoch_time(quick: bool) -> list[Figure]:
    import torch

    from quantdesk.models.zoo import torch_nets

    rows = STOCKS * DAYS
    batches = 60 if quick else TRAIN_BATCHES

    def per_batch(threads: int) -> float:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        net = torch_nets.build("lstm", 2, 2, SEQ, {"hidden": 16, "layers": 1})
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.randn(256, SEQ, 2) * 0.01
        y = torch.randn(256, 2)
        for _ in range(5):
            opt.zero_grad()
            ((net.scaled(x) - y) ** 2).mean().backward()
            opt.step()
        with stopwatch() as elapsed:
            for _ in range(batches):
                opt.zero_grad()
                ((net.scaled(x) - y) ** 2).mean().backward()
                opt.step()
        return elapsed() / batches

    one, two = per_batch(1), per_batch(2)
    torch.set_num_threads(1)
    epoch = one * rows / 256
    return [
        Figure(
            f"lstm training: epoch of {STOCKS}x{DAYS} rows, 1 thread",
            epoch,
            "s",
            two * rows / 256,
            "2 threads",
            higher_is_better=False,
        ),
    ]


def _incremental(quick: bool) -> list[Figure]:
    from quantdesk.models.base import model_class
    from quantdesk.models.evaluation import direction

    stocks = 100 if quick else INC_STOCKS
    data = synthetic_morning(stocks, DAYS + 20, seed=3)
    days = data.unique_days()
    old = data.select(data.days < days[DAYS - 5])
    week = data.select((data.days >= days[DAYS - 5]) & (data.days < days[DAYS]))
    upto = data.select(data.days < days[DAYS])
    test = data.select(data.days >= days[DAYS])
    epochs = 1 if quick else INC_EPOCHS
    parent = _trained_lstm(old, epochs)
    with stopwatch() as inc_t:
        child = model_class("lstm")({"seq_len": SEQ, "incremental_epochs": 3}, seed=0)
        child.fit(week, parent=parent)
    with stopwatch() as full_t:
        full = _trained_lstm(upto, epochs)
    real = test.y[test.rows(), 1]
    day = test.days[test.rows()]
    acc_c, lo_c, hi_c, _ = direction(child.predict(test)[:, 1], real, day)
    acc_f, lo_f, hi_f, _ = direction(full.predict(test)[:, 1], real, day)
    print(
        f"  incremental update: {stocks} stocks, week of {len(week)} rows: direction"
        f" {100 * acc_c:.1f}% [{100 * lo_c:.1f}, {100 * hi_c:.1f}] vs full retrain"
        f" {100 * acc_f:.1f}% [{100 * lo_f:.1f}, {100 * hi_f:.1f}]"
        f" ({'within noise' if lo_c <= hi_f and lo_f <= hi_c else 'NOT within noise'})"
    )
    return [
        Figure(
            f"lstm weekly incremental update ({stocks} stocks)",
            inc_t(),
            "s",
            full_t(),
            f"full retrain ({epochs} epochs)",
            higher_is_better=False,
        ),
        Figure("lstm incremental speed-up over full retrain", full_t() / inc_t(), "x", target=10.0),
        Figure(
            "lstm next 20 days direction: incremental - full (pct points)",
            100 * (acc_c - acc_f),
            "pp",
        ),
    ]


def _tables(quick: bool) -> list[Figure]:
    from quantdesk.models.base import trainable_names
    from quantdesk.models.datasets import build
    from quantdesk.models.datasets.controls import control_dataset
    from quantdesk.models.datasets.samples import sample_bars
    from quantdesk.models.evaluation import EvalConfig, evaluate, format_table

    nets = {"epochs": 10}
    params = {n: nets for n in ("lstm", "transformer", "cnn_lstm")}
    names = ["linear", "rf", "lstm"] if quick else trainable_names()
    stocks, days = (10, 150) if quick else (20, 250)
    figures = []
    for kind in ("planted", "random"):
        data = control_dataset(kind, "morning", n_stocks=stocks, n_days=days, seed=7)
        cfg = EvalConfig(min_train_days=100, retrain_days=25 if not quick else 50, params=params)
        report = evaluate(data, names, cfg, control=kind)
        print(format_table(report))
        lstm = report.models["lstm"]
        figures.append(
            Figure(
                f"{kind} control: lstm direction accuracy",
                100 * lstm["direction_accuracy"],
                "%",
                100 * report.models["naive"]["direction_accuracy"],
                "naive",
            )
        )
        if kind == "random":
            figures.append(
                Figure(
                    "random control: models outside 50% +/- CI (leaks)",
                    len(report.leaks()),
                    "models",
                    higher_is_better=False,
                    target=0,
                )
            )
    from quantdesk.calendars.sessions import get_calendar

    bars = sample_bars("bokeh")
    data = build("daily", bars, get_calendar("XNYS"))
    if quick:
        data = data.between(dt.date(2010, 1, 1), None)
    cfg = EvalConfig(min_train_days=250, retrain_days=120, params=params)
    report = evaluate(data, names, cfg)
    print(format_table(report))
    figures.append(
        Figure(
            "bokeh daily (AAPL GOOG IBM MSFT): lstm direction",
            100 * report.models["lstm"]["direction_accuracy"],
            "%",
            100 * report.models["up"]["direction_accuracy"],
            "up",
        )
    )
    return figures


def run(quick: bool = False) -> list[Figure]:
    figures = _serving(quick)
    figures += _epoch_time(quick)
    figures += _incremental(quick)
    figures += _tables(quick)
    return figures
