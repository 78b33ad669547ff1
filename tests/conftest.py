"""Shared fixtures: real servers live in tests/fixtures/ (one module each)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.kafka"]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Every command sets logging up (a stderr handler on the root logger): undo it after
    each test, so one test's CLI call does not make later tests log to stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quantdesk = logging.getLogger("quantdesk")
    qd_level = quantdesk.level
    yield
    for added in [h for h in root.handlers if h not in handlers]:
        added.close()  # a command's log file handler lets go of its file
    root.handlers[:] = handlers
    root.setLevel(level)
    quantdesk.setLevel(qd_level)
