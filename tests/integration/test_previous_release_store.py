"""A store created by the previous release migrates in place and answers the same.

The previous release's package is taken from git (:data:`PREVIOUS_RELEASE`,
the last commit before storage was rewritten on SQLAlchemy Core) and run in a
subprocess: it creates the store and fills every table family with its own
code, and records its ``/api/klines`` answers and its reads. This release
then opens the same database, migrates it, and must give the same answers
and reads, refuse the pickled checkpoint that release wrote, accept new
writes, and apply a later migration step written as Core tables. Both backends.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from quantdesk.storage import Migration, latest_version, open_store
from quantdesk.storage import migrations as migrations_module
from tests.integration import previous_release_writer as writer

#: The release before the Core rewrite of storage (main at 313a256).
PREVIOUS_RELEASE = "313a2563a2cd2d9530dec16863e8ce68bc5c7002"
REPO = Path(__file__).resolve().parents[2]

ENV = {
    "QUANTDESK_ARGON2_TIME_COST": "1",
    "QUANTDESK_ARGON2_MEMORY_KIB": "64",
    "QUANTDESK_ADMIN_PASSWORD": "admin-pw",
    "QUANTDESK_GUEST_PASSWORD": "guest-pw",
    "QUANTDESK_TEST_PASSWORD": "test-pw",
    "QUANTDESK_JWT_SECRET": "previous-release-secret-0123456789abcdef",
}


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's ``quantdesk`` package, extracted from git."""
    proc = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", PREVIOUS_RELEASE, "quantdesk"],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"this test needs commit {PREVIOUS_RELEASE[:7]} of the git history"
            f" (git fetch --unshallow): {proc.stderr.decode(errors='replace').strip()}",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(root, filter="data")
    return root


def _created_by_previous_release(package: Path, url: str, folder: Path) -> dict[str, Any]:
    out = folder / "previous.json"
    env = {**os.environ, **ENV, "PYTHONPATH": str(package)}
    proc = subprocess.run(
        [sys.executable, writer.__file__, url, str(folder / "data"), str(out)],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["package"].startswith(str(package))  # it really ran the old code
    assert result["version"] == 4
    return result


FAMILY = sa.Table(
    "release_test_family",
    sa.MetaData(),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index("release_test_family_by_at", "at"),
)


def test_previous_release_store_migrates_and_answers_the_same(
    store_url: str,
    previous_release: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    before = _created_by_previous_release(previous_release, store_url, tmp_path)
    assert any(status == 200 for status, _ in before["klines"].values())

    with open_store(store_url) as store:
        assert store.migrate() == latest_version()
        now, then = writer.reads(store), before["reads"]
        # users.created_at was PostgreSQL's now() (microseconds) in that release, read
        # back truncated to the ms; it is rounded now (as every time column is).
        for new_user, old_user in zip(now["users"], then["users"], strict=True):
            assert abs(new_user.pop("created_at") - old_user.pop("created_at")) <= 1
        assert now == then
        after = writer.answers(store, tmp_path / "data")
        # an unknown symbol is a 404 in both; this release's message also names known symbols
        for key in [k for k, (status, _) in before["klines"].items() if status == 404]:
            assert after.pop(key)[0] == before["klines"].pop(key)[0] == 404
        assert after == before["klines"]
        # The pickle that release's workers stored is refused (one line), not loaded.
        with caplog.at_level(logging.WARNING, logger="quantdesk.storage"):
            assert store.load_checkpoint("quantdesk-stream", "trades", 0) is None
        assert any("pickle" in r.getMessage() for r in caplog.records)
        # The upgraded store takes writes; the next checkpoint replaces the pickle.
        store.save_checkpoint("quantdesk-stream", "trades", 0, 42, {"symbols": ["AAPL"]})
        assert store.load_checkpoint("quantdesk-stream", "trades", 0) == (
            42,
            {"symbols": ["AAPL"]},
        )
        newest = store.query_bars("AAPL", "1m", limit=1)[0]
        later = pd.DataFrame(
            [(*newest[:2], newest[2] + 60_000, *newest[3:])], columns=list(writer.bars().columns)
        )
        assert store.upsert_bars(later) == 1
        assert store.query_bars("AAPL", "1m", limit=2)[0] == newest

    # A later step written once as Core tables upgrades it in place, on either dialect.
    step = Migration(latest_version() + 1, "a family added later", tables=(FAMILY,))
    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, step])
    with open_store(store_url) as store:
        assert store.migrate() == step.version
        with store.engine.begin() as conn:
            conn.execute(sa.insert(FAMILY), [{"id": "a", "at": 1}, {"id": "b", "at": 2}])
        inspector = sa.inspect(store.engine)
        assert [i["name"] for i in inspector.get_indexes(FAMILY.name)] == [
            "release_test_family_by_at"
        ]
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM schema_version")).scalars()
            assert sorted(versions) == list(range(1, step.version + 1))
        assert writer.answers(store, tmp_path / "data") != {}
        assert store.count_bars() == before["reads"]["count_bars"] + 1
