"""Cheap argon2 parameters for API tests (the production cost is ~0.2 s a hash)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    monkeypatch.setenv("QUANTDESK_GUEST_PASSWORD", "guest-pw")
    monkeypatch.setenv("QUANTDESK_TEST_PASSWORD", "test-pw")
    monkeypatch.setenv("QUANTDESK_JWT_SECRET", "unit-test-secret-0123456789abcdef0123")
