"""SIGKILL at random moments: after a restart the account is exactly what was committed.

A child process places orders and feeds books against a SQLite store and is
killed with SIGKILL at random moments, then restarted, several times, then
run to its end. After every kill the store is read directly (raw SQL, no
quantdesk code) and compared with a broker restarted on it: cash, positions
and open orders equal what the committed fills and orders say, every order's
filled quantity is the sum of its fills, fill numbers have no gap and no
repeat (no fill happened twice), and cash and positions never went negative.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from quantdesk.storage.sql import engine_for
from quantdesk.storage.trading import TradingStore
from quantdesk.trading.brokers.paper import PaperBroker
from tests.unit.trading.helpers import cn

ROOT = Path(__file__).resolve().parents[3]
STEPS = 400


def child(db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.unit.trading.sigkill_child", str(db), str(STEPS)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def committed(db: Path) -> tuple[Decimal, dict[str, int], set[str], int]:
    """Cash, positions and open order ids from the raw tables; checks fills per order."""
    con = sqlite3.connect(db)
    try:
        (initial,) = con.execute("SELECT initial_cash FROM trading_accounts").fetchone()
        cash = Decimal(initial) / 100
        pos: dict[str, int] = defaultdict(int)
        per_order: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        rows = con.execute(
            "SELECT id, order_id, side, quantity, price, commission, stamp_duty, transfer_fee,"
            " symbol FROM fills ORDER BY time, id"
        ).fetchall()
        for fid, oid, side, q, price, comm, stamp, transfer, sym in rows:
            value = Decimal(price) * q / 10_000
            fees = Decimal(comm + stamp + transfer) / 100
            cash += -(value + fees) if side == "buy" else value - fees
            pos[sym] += q if side == "buy" else -q
            assert cash >= 0 and pos[sym] >= 0
            per_order[oid].append((int(fid.rsplit("-", 1)[1]), q, comm))
        orders = con.execute(
            "SELECT id, status, filled_quantity, commission FROM orders"
        ).fetchall()
        open_ids = set()
        for oid, status, filled, comm in orders:
            got = per_order.pop(oid, [])
            assert sorted(n for n, _, _ in got) == list(range(1, len(got) + 1)), (oid, got)
            assert filled == sum(q for _, q, _ in got), oid
            assert comm == sum(c for _, _, c in got), oid
            if status in ("new", "accepted", "partially_filled"):
                open_ids.add(oid)
        assert not per_order, f"fills of unknown orders: {sorted(per_order)}"
        return (
            cash.quantize(Decimal("0.01")),
            {s: q for s, q in pos.items() if q},
            open_ids,
            len(rows),
        )
    finally:
        con.close()


def restarted(db: Path) -> PaperBroker:
    return PaperBroker(cn(), TradingStore(engine_for(f"sqlite:///{db}")), cash=Decimal("200000"))


def check(db: Path) -> int:
    cash, pos, open_ids, n = committed(db)
    broker = restarted(db)
    assert broker.ledger.cash == cash
    assert {s: h.quantity for s, h in broker.ledger.holdings.items() if h.quantity} == pos
    # orders still 'new' were acted on at restart: they are open now or rejected
    assert {o.id for o in broker.orders(open_only=True)} <= open_ids
    again = committed(db)
    assert again[0] == cash and again[1] == pos  # acting on 'new' orders booked no fill
    broker.journal.engine.dispose()  # type: ignore[attr-defined]
    return n


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    rnd = random.Random(7)
    kills = 0
    counts = []
    for _ in range(4):
        proc = child(db)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else line
        time.sleep(rnd.uniform(0.02, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        counts.append(check(db))
    proc = child(db)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.split()[-1] == "done"
    final = check(db)
    assert kills >= 2 and final >= max(counts) and final > 0
    con = sqlite3.connect(db)
    clients = [c for (c,) in con.execute("SELECT client_order_id FROM orders")]
    con.close()
    assert sorted(clients) == sorted(f"c{i}" for i in range(STEPS))
