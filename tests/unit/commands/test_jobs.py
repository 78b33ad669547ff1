"""``quantdesk jobs list | run | history | set`` as a user types them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.commands import app

runner = CliRunner()
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANTDESK_BACKFILL_DAYS", "2")
    monkeypatch.delenv("QUANTDESK_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_run_history_and_set(env: Path) -> None:
    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["job", "schedule", "on", "next", "run", "last", "run"]
    names = [line.split()[0] for line in lines[1:-1]]
    assert names == sorted(
        ["buy", "cleanup", "history_sync", "init", "order_sync", "permission_refresh",
         "predict", "price_sync", "sell", "stock_list_sync", "train"]
    )  # fmt: skip
    assert "cron:35 9 * * * td" in listed.output and "Asia/Shanghai" in lines[-1]

    ran = runner.invoke(app, ["jobs", "run", "init"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.startswith("init: ok (run 1, manual,")  # log lines go to stderr
    assert '"backfill":{"source":"simulator","days":2' in ran.output

    skipped = runner.invoke(app, ["jobs", "run", "buy"])
    assert skipped.exit_code == 0
    assert "buy: skipped (run 2, manual" in skipped.output
    assert "no stored prediction" in skipped.output

    history = runner.invoke(app, ["jobs", "history", "init"])
    assert history.exit_code == 0
    assert history.output.splitlines()[1].split()[0] == "1"
    assert " manual   1   ok " in history.output

    changed = runner.invoke(app, ["jobs", "set", "sell", "--schedule", "cron:40 9 * * 1-5"])
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.strip() == "sell: cron:40 9 * * 1-5, trading days only, enabled"
    off = runner.invoke(app, ["jobs", "set", "cleanup", "--disable"])
    assert off.stdout.strip() == "cleanup: cron:0 20 1 * *, disabled"
    after = runner.invoke(app, ["jobs", "list"]).output
    assert "cron:40 9 * * 1-5 td" in after
    (cleanup,) = [line for line in after.splitlines() if line.startswith("cleanup")]
    assert cleanup[43:47] == "no  " and cleanup[47:].split() == ["-", "-"]  # no next, no last


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "run", "nope"], "error: unknown job 'nope'; known: buy, cleanup,"),
        (["jobs", "history", "nope"], "error: unknown job 'nope'"),
        (["jobs", "set", "nope", "--disable"], "error: unknown job 'nope'"),
        (
            ["jobs", "set", "sell", "--schedule", "cron:61 9 * * *"],
            "error: schedule 'cron:61 9 * * *': Error validating expression '61'",
        ),
        (["jobs", "set", "sell", "--schedule", "daily"], "is not one of the allowed forms"),
        (["jobs", "set", "sell"], "error: nothing to change"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    env: Path, args: list[str], message: str
) -> None:
    before = runner.invoke(app, ["jobs", "list"]).output
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    # one line besides the log records (every command logs to stderr the same way)
    said = [line for line in result.output.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(said) == 1
    assert runner.invoke(app, ["jobs", "list"]).output == before
