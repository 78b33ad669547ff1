"""Model versions, aliases and predictions on SQLite and PostgreSQL (the same SQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from quantdesk.errors import NotFoundError, StorageError
from quantdesk.storage.models import (
    ModelVersionRepository,
    PredictionRepository,
    PredictionRow,
    VersionRow,
    create_tables,
)
from quantdesk.storage.sql import engine_for


@pytest.fixture
def engine(store_url: str) -> Iterator[sa.Engine]:
    eng = engine_for(store_url)
    create_tables(eng)
    create_tables(eng)  # idempotent
    yield eng
    eng.dispose()


def _version(name: str, version: int, parent: int | None = None) -> VersionRow:
    return VersionRow(
        name=name,
        version=version,
        dataset="morning",
        params={"epochs": 3, "hidden": 8},
        seed=1,
        data_start=dt.date(2024, 1, 2),
        data_end=dt.date(2024, 6, 28),
        symbols=["600036.SH", "000001.SZ"],
        features=["open_ratio", "close_ratio"],
        targets=["next_open", "next_close"],
        metrics={"lstm": {"direction_accuracy": 0.55}},
        created_at=1_700_000_000_000 + version,
        parent_version=parent,
        artifact=f"{name}/{version}.qdm",
        sha256="ab" * 32,
        size_bytes=1234,
    )


def test_versions_round_trip_and_are_immutable(engine: sa.Engine) -> None:
    repo = ModelVersionRepository(engine)
    assert repo.next_version("lstm") == 1
    repo.add(_version("lstm", 1))
    repo.add(_version("lstm", 2, parent=1))
    repo.add(_version("rf", 1))
    assert repo.next_version("lstm") == 3
    got = repo.get("lstm", 2)
    assert got == _version("lstm", 2, parent=1)
    assert [(r.name, r.version) for r in repo.list_versions()] == [
        ("lstm", 1),
        ("lstm", 2),
        ("rf", 1),
    ]
    assert repo.latest("lstm") == got
    assert repo.names() == ["lstm", "rf"]
    with pytest.raises(StorageError, match="lstm version 2 already exists"):
        repo.add(_version("lstm", 2))
    with pytest.raises(NotFoundError, match="no version 9"):
        repo.get("lstm", 9)


def test_aliases_promote_and_roll_back(engine: sa.Engine) -> None:
    repo = ModelVersionRepository(engine)
    for v in (1, 2, 3):
        repo.add(_version("lstm", v))
    assert repo.alias("lstm", "champion") is None
    assert repo.set_alias("lstm", "champion", 1) is None
    assert repo.set_alias("lstm", "champion", 3) == 1
    repo.set_alias("lstm", "challenger", 2)
    assert repo.get("lstm", 3).aliases == ["champion"]
    assert repo.rollback("lstm", "champion") == 1
    assert repo.alias("lstm", "champion") == 1
    # rolling back again undoes the roll back (the events are a history, not a stack)
    assert repo.rollback("lstm", "champion") == 3
    with pytest.raises(NotFoundError, match="no version 7"):
        repo.set_alias("lstm", "champion", 7)
    with pytest.raises(NotFoundError, match="no earlier version"):
        repo.rollback("rf", "champion")


def _pred(sym: str, day: dt.date, version: int, made_at: int, ret: float) -> PredictionRow:
    return PredictionRow(
        symbol=sym,
        target_day=day,
        model="lstm",
        version=version,
        made_at=made_at,
        predicted_open=10.0,
        predicted_close=10.0 * (1 + ret),
        predicted_return=ret,
        reference=10.0,
    )


def test_predictions_latest_per_symbol_with_fallback(engine: sa.Engine) -> None:
    repo = PredictionRepository(engine)
    d1, d2 = dt.date(2024, 7, 1), dt.date(2024, 7, 2)
    repo.upsert(
        [
            _pred("A", d1, 1, 100, 0.01),
            _pred("B", d1, 1, 100, 0.02),
            _pred("A", d2, 1, 200, 0.03),
            _pred("A", d2, 2, 300, 0.04),  # a newer version for the same day wins
        ]
    )
    repo.upsert([_pred("A", d2, 2, 300, 0.04)])  # idempotent
    rows = {r.symbol: r for r in repo.latest(model="lstm")}
    assert rows["A"].predicted_return == 0.04 and rows["A"].version == 2
    assert not rows["A"].stale
    # today's prediction for B failed: the strategy gets yesterday's, marked stale
    assert rows["B"].target_day == d1 and rows["B"].stale
    only = repo.latest(model="lstm", symbols=["B"], target_day=d2)
    assert [(r.symbol, r.target_day, r.stale) for r in only] == [("B", d1, True)]
    assert repo.latest(model="rf") == []
    as_of = {r.symbol: r for r in repo.latest(target_day=d1)}
    assert as_of["A"].predicted_return == 0.01 and not as_of["A"].stale
