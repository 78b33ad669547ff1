"""Model versions, their aliases, and stored predictions (SQLAlchemy Core, written once).

Tables (declared on :data:`quantdesk.storage.sql.METADATA`):

=======================  ==================================================================
table                    rows
=======================  ==================================================================
``model_versions``       one per trained version: name, version, dataset, params, seed,
                         data range (first and last labelled day), symbols, features,
                         targets, metrics, created at, parent version (incremental), the
                         artifact's path, SHA-256 and size. Immutable once written.
``model_aliases``        mutable pointers (MLflow style): ``champion``, ``challenger``, ...
                         -> a version of a model
``model_alias_events``   every alias change (previous and new version): roll back walks it
``predictions``          one per symbol, target day, model and version: made at, predicted
                         next open / close (prices), predicted return, the reference price
``model_evaluations``    every ``quantdesk model evaluate`` report (JSON), by control
                         ("" for stored bars, ``random``, ``planted``): the dashboard's
                         models beside the baselines and its leak warnings
``prediction_outcomes``  one per stored prediction whose target day's bars arrived: the
                         realised return and close, whether the direction was right, the
                         absolute error (written once: never rewritten, never counted twice)
=======================  ==================================================================

The T+1 strategy reads :meth:`PredictionRepository.latest`: per symbol the
prediction for the day it trades or, when today's prediction failed (seed B's
rule), the newest one stored before it, marked ``stale``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from quantdesk.errors import NotFoundError, StorageError
from quantdesk.storage.sql import METADATA, Millis, insert_new, upsert

model_versions = sa.Table(
    "model_versions",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("dataset", sa.String(32), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("data_start", sa.Date, nullable=True),
    sa.Column("data_end", sa.Date, nullable=True),
    sa.Column("symbols", sa.Text, nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("targets", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("parent_version", sa.Integer, nullable=True),
    sa.Column("artifact", sa.String(512), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    METADATA,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("alias", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", Millis, nullable=False),
)

model_alias_events = sa.Table(
    "model_alias_events",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("alias", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous", sa.Integer, nullable=True),
    sa.Column("at", Millis, nullable=False),
    sa.Index("ix_model_alias_events_name_alias", "name", "alias", "id"),
)

predictions = sa.Table(
    "predictions",
    METADATA,
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column("target_day", sa.Date, primary_key=True),
    sa.Column("model", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("made_at", Millis, nullable=False),
    sa.Column("predicted_open", sa.Float, nullable=True),
    sa.Column("predicted_close", sa.Float, nullable=True),
    sa.Column("predicted_return", sa.Float, nullable=False),
    sa.Column("reference", sa.Float, nullable=False),
    sa.Index("ix_predictions_model_symbol_day", "model", "symbol", "target_day"),
)

prediction_outcomes = sa.Table(
    "prediction_outcomes",
    METADATA,
    sa.Column("symbol", sa.String(32), primary_key=True),
    sa.Column("target_day", sa.Date, primary_key=True),
    sa.Column("model", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("predicted_return", sa.Float, nullable=False),
    sa.Column("actual_return", sa.Float, nullable=False),
    sa.Column("actual_close", sa.Float, nullable=False),
    sa.Column("hit", sa.Boolean, nullable=False),
    sa.Column("abs_error", sa.Float, nullable=False),
    sa.Column("recorded_at", Millis, nullable=False),
)

model_evaluations = sa.Table(
    "model_evaluations",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", Millis, nullable=False),
    sa.Column("dataset", sa.String(32), nullable=False),
    sa.Column("control", sa.String(16), nullable=False),  # "" = stored bars
    sa.Column("report", sa.Text, nullable=False),
    sa.Index("ix_model_evaluations_control", "control", "id"),
)

TABLES = (model_versions, model_aliases, model_alias_events, predictions)
#: Migration 10 (A/B tracking, stored evaluation reports) creates these.
OUTCOME_TABLES = (prediction_outcomes, model_evaluations)


def create_tables(engine: sa.Engine) -> None:
    """Create the tables of this family where missing. A store's migrations 8 and 10 create
    them; this serves an engine without a migrated store (tests, a bare model database)."""
    METADATA.create_all(engine, tables=[*TABLES, *OUTCOME_TABLES], checkfirst=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class VersionRow:
    name: str
    version: int
    dataset: str
    params: dict[str, Any]
    seed: int
    data_start: dt.date | None
    data_end: dt.date | None
    symbols: list[str]
    features: list[str]
    targets: list[str]
    metrics: dict[str, Any]
    created_at: int
    parent_version: int | None
    artifact: str
    sha256: str
    size_bytes: int
    aliases: list[str] = field(default_factory=list)


def _version_row(r: Any, aliases: list[str] | None = None) -> VersionRow:
    return VersionRow(
        name=r.name,
        version=int(r.version),
        dataset=r.dataset,
        params=orjson.loads(r.params),
        seed=int(r.seed),
        data_start=r.data_start,
        data_end=r.data_end,
        symbols=orjson.loads(r.symbols),
        features=orjson.loads(r.features),
        targets=orjson.loads(r.targets),
        metrics=orjson.loads(r.metrics),
        created_at=int(r.created_at),
        parent_version=None if r.parent_version is None else int(r.parent_version),
        artifact=r.artifact,
        sha256=r.sha256,
        size_bytes=int(r.size_bytes),
        aliases=aliases or [],
    )


class ModelVersionRepository:
    """Versions (immutable) and aliases (mutable, every change recorded) of models."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def next_version(self, name: str) -> int:
        with self.engine.connect() as conn:
            top = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.name == name
                )
            ).scalar()
        return int(top or 0) + 1

    def add(self, row: VersionRow) -> None:
        """Store a new version; an existing (name, version) is an error, never replaced."""
        values = {
            "name": row.name,
            "version": row.version,
            "dataset": row.dataset,
            "params": _dumps(row.params),
            "seed": row.seed,
            "data_start": row.data_start,
            "data_end": row.data_end,
            "symbols": _dumps(row.symbols),
            "features": _dumps(row.features),
            "targets": _dumps(row.targets),
            "metrics": _dumps(row.metrics),
            "created_at": row.created_at,
            "parent_version": row.parent_version,
            "artifact": row.artifact,
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(model_versions.insert().values(**values))
        except sa.exc.IntegrityError:
            raise StorageError(f"model {row.name} version {row.version} already exists") from None

    def _aliases_of(
        self, conn: sa.Connection, name: str | None
    ) -> dict[tuple[str, int], list[str]]:
        q = sa.select(model_aliases)
        if name is not None:
            q = q.where(model_aliases.c.name == name)
        out: dict[tuple[str, int], list[str]] = {}
        for a in conn.execute(q.order_by(model_aliases.c.alias)):
            out.setdefault((a.name, int(a.version)), []).append(a.alias)
        return out

    def get(self, name: str, version: int) -> VersionRow:
        with self.engine.connect() as conn:
            r = conn.execute(
                sa.select(model_versions).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            ).first()
            if r is None:
                raise NotFoundError(f"model {name} has no version {version}")
            return _version_row(r, self._aliases_of(conn, name).get((name, version)))

    def list_versions(self, name: str | None = None) -> list[VersionRow]:
        """Every version (of ``name``), by name then version."""
        with self.engine.connect() as conn:
            q = sa.select(model_versions)
            if name is not None:
                q = q.where(model_versions.c.name == name)
            rows = conn.execute(q.order_by(model_versions.c.name, model_versions.c.version))
            aliases = self._aliases_of(conn, name)
            return [_version_row(r, aliases.get((r.name, int(r.version)))) for r in rows]

    def latest(self, name: str) -> VersionRow | None:
        versions = self.list_versions(name)
        return versions[-1] if versions else None

    def alias(self, name: str, alias: str) -> int | None:
        with self.engine.connect() as conn:
            v = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            ).scalar()
        return None if v is None else int(v)

    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point ``alias`` of ``name`` at ``version``; return the version it pointed at."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(model_versions.c.version).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            ).first()
            if exists is None:
                raise NotFoundError(f"model {name} has no version {version}")
            previous = conn.execute(
                sa.select(model_aliases.c.version).where(
                    model_aliases.c.name == name, model_aliases.c.alias == alias
                )
            ).scalar()
            now = _now_ms()
            upsert(
                conn,
                model_aliases,
                [{"name": name, "alias": alias, "version": version, "updated_at": now}],
                key=("name", "alias"),
            )
            conn.execute(
                model_alias_events.insert().values(
                    name=name, alias=alias, version=version, previous=previous, at=now
                )
            )
        return None if previous is None else int(previous)

    def rollback(self, name: str, alias: str = "champion") -> int:
        """Point ``alias`` back at the version it held before its latest change."""
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(model_alias_events)
                .where(model_alias_events.c.name == name, model_alias_events.c.alias == alias)
                .order_by(model_alias_events.c.id.desc())
                .limit(1)
            ).first()
        if last is None or last.previous is None:
            raise NotFoundError(f"model {name}: {alias} has no earlier version to roll back to")
        self.set_alias(name, alias, int(last.previous))
        return int(last.previous)

    def delete(self, name: str, version: int) -> bool:
        """Delete a version row (never one an alias points at); True when one was deleted."""
        with self.engine.begin() as conn:
            held = conn.execute(
                sa.select(model_aliases.c.alias).where(
                    model_aliases.c.name == name, model_aliases.c.version == version
                )
            ).first()
            if held is not None:
                raise StorageError(f"model {name} version {version} is {held.alias}: not deleted")
            done = conn.execute(
                model_versions.delete().where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            )
        return bool(done.rowcount)

    def names(self) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(model_versions.c.name).distinct())
            return sorted(r.name for r in rows)


@dataclass(frozen=True)
class PredictionRow:
    symbol: str
    target_day: dt.date
    model: str
    version: int
    made_at: int
    predicted_open: float | None
    predicted_close: float | None
    predicted_return: float
    reference: float
    stale: bool = False


class PredictionRepository:
    """Stored predictions; idempotent on (symbol, target day, model, version)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def upsert(self, rows: Sequence[PredictionRow]) -> int:
        values = [
            {
                "symbol": r.symbol,
                "target_day": r.target_day,
                "model": r.model,
                "version": r.version,
                "made_at": r.made_at,
                "predicted_open": r.predicted_open,
                "predicted_close": r.predicted_close,
                "predicted_return": r.predicted_return,
                "reference": r.reference,
            }
            for r in rows
        ]
        with self.engine.begin() as conn:
            upsert(conn, predictions, values, key=("symbol", "target_day", "model", "version"))
        return len(values)

    def latest(
        self,
        model: str | None = None,
        symbols: Sequence[str] | None = None,
        target_day: dt.date | None = None,
        version: int | None = None,
    ) -> list[PredictionRow]:
        """Per symbol, the prediction for ``target_day`` (default: the newest day stored)
        or, where there is none, the newest one before it (``stale=True``). Among several
        versions for the same day the most recently made wins (serving writes the
        champion's after the challenger's); ``version`` keeps one version's rows."""
        p = predictions.c
        cond = []
        if model is not None:
            cond.append(p.model == model)
        if version is not None:
            cond.append(p.version == version)
        if symbols:
            cond.append(p.symbol.in_(list(symbols)))
        if target_day is not None:
            cond.append(p.target_day <= target_day)
        newest = (
            sa.select(p.symbol, sa.func.max(p.target_day).label("day"))
            .where(*cond)
            .group_by(p.symbol)
            .subquery()
        )
        q = (
            sa.select(predictions)
            .join(newest, sa.and_(p.symbol == newest.c.symbol, p.target_day == newest.c.day))
            .where(*cond)
            .order_by(p.symbol, p.made_at.desc(), p.version.desc())
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        best: dict[str, Any] = {}
        for r in rows:
            best.setdefault(r.symbol, r)
        top_day = target_day or max((r.target_day for r in best.values()), default=None)
        return [
            PredictionRow(
                symbol=r.symbol,
                target_day=r.target_day,
                model=r.model,
                version=int(r.version),
                made_at=int(r.made_at),
                predicted_open=r.predicted_open,
                predicted_close=r.predicted_close,
                predicted_return=float(r.predicted_return),
                reference=float(r.reference),
                stale=top_day is not None and r.target_day < top_day,
            )
            for r in best.values()
        ]

    def history(
        self, model: str, symbol: str, *, version: int | None = None, limit: int = 200
    ) -> list[PredictionRow]:
        """The newest ``limit`` predictions of ``model`` for ``symbol`` (one per target day:
        the most recently made), oldest first: the market chart's markers."""
        p = predictions.c
        cond = [p.model == model, p.symbol == symbol]
        if version is not None:
            cond.append(p.version == version)
        q = sa.select(predictions).where(*cond).order_by(p.target_day.desc(), p.made_at.desc())
        best: dict[dt.date, Any] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q.limit(4 * limit)):
                if r.target_day not in best:
                    best[r.target_day] = r
                if len(best) >= limit:
                    break
        return [_prediction_row(r) for r in sorted(best.values(), key=lambda r: r.target_day)]

    def unscored(self, model: str, until: dt.date) -> list[PredictionRow]:
        """Predictions of ``model`` for target days up to ``until`` without an outcome."""
        p, o = predictions.c, prediction_outcomes.c
        joined = predictions.outerjoin(
            prediction_outcomes,
            sa.and_(
                o.symbol == p.symbol,
                o.target_day == p.target_day,
                o.model == p.model,
                o.version == p.version,
            ),
        )
        q = (
            sa.select(predictions)
            .select_from(joined)
            .where(p.model == model, p.target_day <= until, o.symbol.is_(None))
            .order_by(p.target_day, p.symbol, p.version)
        )
        with self.engine.connect() as conn:
            return [_prediction_row(r) for r in conn.execute(q)]


def _prediction_row(r: Any) -> PredictionRow:
    return PredictionRow(
        symbol=r.symbol,
        target_day=r.target_day,
        model=r.model,
        version=int(r.version),
        made_at=int(r.made_at),
        predicted_open=r.predicted_open,
        predicted_close=r.predicted_close,
        predicted_return=float(r.predicted_return),
        reference=float(r.reference),
    )


@dataclass(frozen=True)
class OutcomeRow:
    """How one stored prediction turned out once its target day's bars arrived."""

    symbol: str
    target_day: dt.date
    model: str
    version: int
    predicted_return: float
    actual_return: float
    actual_close: float
    hit: bool
    abs_error: float
    recorded_at: int


@dataclass(frozen=True)
class OutcomeSummary:
    """Realised figures of one version: ``rows`` scored predictions, of which ``count``
    moved (a realised return of exactly 0 has no direction: as in the evaluation, it is
    left out of the accuracy), ``hits`` of those in the predicted direction, mean error."""

    version: int
    rows: int
    count: int
    hits: int
    mae: float | None
    first_day: dt.date | None
    last_day: dt.date | None

    @property
    def accuracy(self) -> float | None:
        return self.hits / self.count if self.count else None


class OutcomeRepository:
    """Realised outcomes of stored predictions (the A/B figures); written once per key."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, rows: Sequence[OutcomeRow]) -> int:
        """Store outcomes not stored yet (a rerun after a crash adds nothing twice)."""
        values = [
            {
                "symbol": r.symbol,
                "target_day": r.target_day,
                "model": r.model,
                "version": r.version,
                "predicted_return": r.predicted_return,
                "actual_return": r.actual_return,
                "actual_close": r.actual_close,
                "hit": r.hit,
                "abs_error": r.abs_error,
                "recorded_at": r.recorded_at,
            }
            for r in rows
        ]
        if not values:
            return 0
        with self.engine.begin() as conn:
            return insert_new(
                conn, prediction_outcomes, values, ("symbol", "target_day", "model", "version")
            )

    def of_symbol(self, model: str, symbol: str) -> dict[tuple[dt.date, int], tuple[float, bool]]:
        """(target day, version) -> (realised return, direction right) for one stock."""
        o = prediction_outcomes.c
        q = sa.select(o.target_day, o.version, o.actual_return, o.hit).where(
            o.model == model, o.symbol == symbol
        )
        with self.engine.connect() as conn:
            return {
                (_day(r.target_day) or dt.date.min, int(r.version)): (
                    float(r.actual_return),
                    bool(r.hit),
                )
                for r in conn.execute(q)
            }

    def summary(self, model: str) -> dict[int, OutcomeSummary]:
        """Per version of ``model``: how many predictions were scored, hits, mean error."""
        o = prediction_outcomes.c
        q = (
            sa.select(
                o.version,
                sa.func.count().label("rows"),
                sa.func.sum(sa.case((o.actual_return != 0, 1), else_=0)).label("n"),
                sa.func.sum(sa.case((sa.and_(o.hit, o.actual_return != 0), 1), else_=0)).label(
                    "hits"
                ),
                sa.func.avg(o.abs_error).label("mae"),
                sa.func.min(o.target_day).label("first"),
                sa.func.max(o.target_day).label("last"),
            )
            .where(o.model == model)
            .group_by(o.version)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return {
            int(r.version): OutcomeSummary(
                version=int(r.version),
                rows=int(r.rows),
                count=int(r.n or 0),
                hits=int(r.hits or 0),
                mae=None if r.mae is None else float(r.mae),
                first_day=_day(r.first),
                last_day=_day(r.last),
            )
            for r in rows
        }


def _day(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class EvaluationRepository:
    """Stored evaluation reports (append only)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, report: dict[str, Any]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                model_evaluations.insert().values(
                    created_at=_now_ms(),
                    dataset=str(report.get("dataset") or ""),
                    control=str(report.get("control") or ""),
                    report=_dumps(report),
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def latest(self) -> dict[str, dict[str, Any]]:
        """The newest report per control ("" = stored bars), each with its ``id`` and
        ``created_at``."""
        e = model_evaluations.c
        newest = sa.select(sa.func.max(e.id)).group_by(e.control).scalar_subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(model_evaluations).where(e.id.in_(newest))).all()
        return {
            r.control: {"id": int(r.id), "created_at": int(r.created_at), **orjson.loads(r.report)}
            for r in rows
        }
