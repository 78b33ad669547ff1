"""The model package behind the scheduled jobs: predict_day, train_incremental, prune."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from quantdesk.calendars.sessions import ExchangeCalendar, get_calendar
from quantdesk.config import load_settings
from quantdesk.errors import JobSkipped
from quantdesk.jobs import services as job_services
from quantdesk.models.base import model_class
from quantdesk.models.datasets.controls import control_universe
from quantdesk.storage import open_store
from quantdesk.storage.models import PredictionRepository
from quantdesk.storage.sql import engine_for


def test_models_serve_the_jobs(
    tmp_path: Path,
    planted_bars: tuple[pd.DataFrame, ExchangeCalendar],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bars, _ = planted_bars
    url = f"sqlite:///{tmp_path / 'q.db'}"
    settings = load_settings(data_dir=tmp_path / "data", market="cn")
    store = open_store(url)
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars)
    engine = engine_for(url)
    ctx = SimpleNamespace(
        settings=settings, store=store, env=SimpleNamespace(engine=engine), market="cn"
    )
    try:
        jobs = model_class("linear").for_jobs(ctx)
        for proto in (job_services.Predictor, job_services.Trainer):
            assert isinstance(jobs, proto)
        assert isinstance(jobs, job_services.ModelVersionPruner)
        day = dt.date(2020, 3, 2)
        trading = SimpleNamespace(
            market="cn",
            day=day,
            fire_ms=0,
            decision_ms=int(pd.Timestamp("2020-03-02 12:05", tz="Asia/Shanghai").value // 10**6),
            calendar=get_calendar("XSHG"),
        )
        with pytest.raises(JobSkipped, match="no version yet"):
            jobs.predict_day(trading)
        first = jobs.train_incremental(0, int(pd.Timestamp("2020-02-22", tz="UTC").value // 10**6))
        assert first["version"] == 1 and first["parent"] is None
        ref = jobs.predict_day(trading)
        assert ref["model"] == "linear" and ref["version"] == 1 and ref["count"] == 6
        # the prediction used only rows decided by 12:05 on 2 March: it is for 3 March
        assert ref["target_day"] == "2020-03-03"
        stored = PredictionRepository(engine).latest(model="linear")
        assert {r.target_day for r in stored} == {dt.date(2020, 3, 3)}
        assert jobs.prune_unaliased(0, 2**62) == 0  # v1 is the challenger: kept
    finally:
        store.close()
        engine.dispose()


def test_incremental_job_and_pruning(
    tmp_path: Path, planted_bars: tuple[pd.DataFrame, ExchangeCalendar]
) -> None:
    bars, _ = planted_bars
    url = f"sqlite:///{tmp_path / 'q.db'}"
    settings = load_settings(data_dir=tmp_path / "data", market="cn")
    store = open_store(url)
    store.upsert_metadata(control_universe(6))
    store.upsert_bars(bars)
    engine = engine_for(url)
    ctx = SimpleNamespace(
        settings=settings, store=store, env=SimpleNamespace(engine=engine), market="cn"
    )
    try:
        jobs = model_class("xgboost").for_jobs(ctx)
        ms = [
            int(pd.Timestamp(d, tz="UTC").value // 10**6)
            for d in ("2020-02-15", "2020-02-22", "2020-02-29", "2020-03-07")
        ]
        results = [jobs.train_incremental(0, ms[0])]
        results += [jobs.train_incremental(a, b) for a, b in itertools.pairwise(ms)]
        assert [r["version"] for r in results] == [1, 2, 3, 4]
        assert [r["parent"] for r in results] == [None, 1, 2, 3]
        reg = jobs.registry
        reg.promote("xgboost", 1)
        # v4 is the challenger, v1 the champion; keep the newest 1 unaliased: v3; v2 goes
        assert jobs.prune_unaliased(1, 2**62) == 1
        assert [r.version for r in reg.versions.list_versions("xgboost")] == [1, 3, 4]
        assert not (reg.model_dir / "xgboost" / "2.qdm").exists()
        assert reg.load("xgboost", 3)[1].parent_version == 2  # lineage kept on the row
    finally:
        store.close()
        engine.dispose()
