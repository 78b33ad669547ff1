"""The rotating log file (text or JSON lines), written safely by several processes, and the
log search that reads it back (current and rotated files)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.api.logbook import LogBook, log_files, search, search_files
from quantdesk.commands import app as cli
from quantdesk.config import load_settings
from quantdesk.config.logs import setup_logging
from quantdesk.errors import ConfigError

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    qd_level = logging.getLogger("quantdesk").level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("quantdesk").setLevel(qd_level)


def test_the_file_rotates_by_size_and_keeps_n_backups(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "logs" / "quantdesk.log"
    setup_logging("INFO", stream=io.StringIO(), log_file=path, max_bytes=2048, backups=3)
    log = logging.getLogger("quantdesk.test")
    for k in range(200):
        log.info("record %04d %s", k, "x" * 40)
    files = log_files(path)
    assert [f.name for f in files] == [
        "quantdesk.log",
        "quantdesk.log.1",
        "quantdesk.log.2",
        "quantdesk.log.3",
    ]
    assert all(f.stat().st_size <= 2048 + 200 for f in files)
    newest = search_files(path, "record", limit=5000)
    numbers = [int(r.message.split()[1]) for r in newest]
    assert numbers == sorted(numbers) and numbers[-1] == 199  # oldest first, the newest kept
    assert numbers[0] > 0  # older ones rotated away (3 backups)
    assert [int(r.message.split()[1]) for r in search_files(path, "record", limit=3)] == [
        197,
        198,
        199,
    ]


def test_json_lines_redacted_and_read_back(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "q.log"
    err = io.StringIO()
    setup_logging("INFO", stream=err, log_file=path, fmt="json")
    logging.getLogger("quantdesk.audit").warning("audit action=login.failed token=%s", JWT)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("quantdesk.bus").exception("consumer failed")
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and err.getvalue().splitlines() == lines
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message", "pid"}
    assert first["level"] == "WARNING" and first["logger"] == "quantdesk.audit"
    assert JWT not in lines[0] and first["time"].endswith("Z")
    assert "ValueError: boom" in second["exc"]
    found = search_files(path, level="ERROR")
    assert len(found) == 1 and "ValueError: boom" in found[0].message


def test_text_tracebacks_belong_to_their_record(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "q.log"
    setup_logging("INFO", stream=io.StringIO(), log_file=path)
    log = logging.getLogger("quantdesk.x")
    log.info("before")
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("it failed")
    log.info("after")
    records = search_files(path)
    assert [r.message.splitlines()[0] for r in records] == ["before", "it failed", "after"]
    assert "KeyError: 'k'" in records[1].message and records[1].level == "ERROR"
    assert next(r.message for r in search_files(path, "keyerror")).startswith("it failed")


def test_several_processes_share_one_rotating_file(tmp_path: Path) -> None:
    """Two processes writing at once through rotations lose and tear no line."""
    path = tmp_path / "logs" / "quantdesk.log"
    child = textwrap.dedent(
        f"""
        import io, logging, sys
        from pathlib import Path
        from quantdesk.config.logs import setup_logging
        setup_logging("INFO", stream=io.StringIO(), log_file=Path({str(path)!r}),
                      max_bytes=4096, backups=200)
        log = logging.getLogger("quantdesk.child")
        for k in range(400):
            log.info("proc %s line %04d %s", sys.argv[1], k, "y" * 30)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", child, name]) for name in ("a", "b")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = search_files(path, "line", limit=5000)
    seen = {(r.message.split()[1], int(r.message.split()[3])) for r in records}
    assert len(records) == 800 and len(seen) == 800
    assert len(log_files(path)) > 2  # it did rotate


def test_search_merges_this_process_when_it_does_not_write_the_file(tmp_path: Path) -> None:
    path = tmp_path / "q.log"
    path.write_text(
        "2026-01-01T00:00:00.000Z INFO quantdesk.worker: from another process\n"
        "2026-01-01T00:00:02.000Z WARNING quantdesk.worker: later warning\n"
    )
    book = LogBook()
    rec = logging.makeLogRecord(
        {"name": "quantdesk.api", "levelno": 20, "levelname": "INFO", "msg": "mine"}
    )
    rec.created = 1767225601.0  # 2026-01-01T00:00:01Z
    book.emit(rec)
    assert [r.message for r in search(book, path)] == [
        "from another process",
        "mine",
        "later warning",
    ]
    assert [r.message for r in search(book, path, level="WARNING")] == ["later warning"]
    got = search(book, path, start="2026-01-01T00:00:01.000Z", end="2026-01-01T00:00:02.000Z")
    assert [r.message for r in got] == ["mine"]
    assert [r.message for r in search(book, None)] == ["mine"]


def test_every_command_writes_the_file_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("QUANTDESK_LOG_LEVEL", "INFO")
    result = CliRunner().invoke(cli, ["backfill", "--days", "1", "--symbols", "600036"])
    assert result.exit_code == 0, result.output
    logging.getLogger("quantdesk.test").warning("after the command")
    path = tmp_path / "data" / "logs" / "quantdesk.log"
    assert "after the command" in path.read_text()
    monkeypatch.setenv("QUANTDESK_LOG_FILE", "")
    assert load_settings().resolved_log_file is None
    monkeypatch.setenv("QUANTDESK_LOG_FILE", str(tmp_path / "abs.log"))
    assert load_settings().resolved_log_file == tmp_path / "abs.log"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "QUANTDESK_LOG_FORMAT"),
        ("LOG_FILE_MAX_BYTES", "10", "must be >= 1024 bytes"),
        ("LOG_FILE_BACKUPS", "0", "must be >= 1"),
        ("RATE_LIMIT_PER_MINUTE", "-1", "must be >= 0"),
        ("RATE_LIMIT_BURST", "0", "must be >= 1"),
    ],
)
def test_bad_settings(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(f"QUANTDESK_{name}", value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_an_unwritable_log_file_is_reported_not_fatal(tmp_path: Path, restore_logging) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    err = io.StringIO()
    setup_logging("INFO", stream=err, log_file=blocker / "sub" / "q.log")
    logging.getLogger("quantdesk.x").info("still logs")
    assert "cannot be written" in err.getvalue() and "still logs" in err.getvalue()
