"""One logging set-up for every command; no token in any log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantdesk.commands import app as cli
from quantdesk.config.logs import redact, setup_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (
            f'127.0.0.1 - "WebSocket /ws/logs?token={JWT}" [accepted]',
            '127.0.0.1 - "WebSocket /ws/logs?token=***" [accepted]',
        ),
        (
            "GET /stock/candle?symbol=AAPL&token=abc123&from=1",
            "GET /stock/candle?symbol=AAPL&token=***&from=1",
        ),
        ("url?apikey=K&x=1 and ?api_key=Z", "url?apikey=***&x=1 and ?api_key=***"),
        ("?access_token=t;", "?access_token=***;"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        (f"token {JWT} seen", "token *** seen"),
        ("nothing secret here: symbol=AAPL", "nothing secret here: symbol=AAPL"),
    ],
)
def test_redact(text: str, clean: str) -> None:
    assert redact(text) == clean


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    qd_level = logging.getLogger("quantdesk").level
    uv = logging.getLogger("uvicorn.error")
    uv_level = uv.level
    uv.setLevel(logging.NOTSET)  # a server started by an earlier test may have set WARNING
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("quantdesk").setLevel(qd_level)
    uv.setLevel(uv_level)


def test_setup_is_one_handler_with_utc_times_and_redaction(restore_logging) -> None:
    out = io.StringIO()
    setup_logging("INFO", stream=out)
    setup_logging("INFO", stream=out)  # again: replaces, never doubles
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_QUANTDESK", False)]
    assert len(ours) == 1
    logging.getLogger("quantdesk.audit").info("audit action=login user=admin client=1.2.3.4")
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "1.2.3.4", f"/ws/market?token={JWT}"
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("INFO quantdesk.audit: audit action=login user=admin client=1.2.3.4")
    assert lines[0][23] == "Z" and lines[0][10] == "T"  # 2026-05-06T01:30:00.123Z
    assert JWT not in out.getvalue() and "token=***" in lines[1]


@pytest.mark.parametrize(
    "args",
    [["config"], ["universe"], ["db", "status"], ["export", "x.parquet", "--symbol", "600036.SH"]],
)
def test_every_command_sets_logging_up(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANTDESK_LOG_LEVEL", "WARNING")
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "_QUANTDESK", False)]
    CliRunner().invoke(cli, args)
    assert [h for h in root.handlers if getattr(h, "_QUANTDESK", False)], args
    assert logging.getLogger("quantdesk").level == logging.WARNING
