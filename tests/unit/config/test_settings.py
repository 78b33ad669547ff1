"""Settings added by the hardening and first-hour issues."""

from __future__ import annotations

import pytest

from quantdesk.config import load_settings
from quantdesk.errors import ConfigError


@pytest.mark.parametrize("secret", ["x", "0123456789abcdef0123456789abcde"])  # 1 and 31 bytes
def test_a_short_jwt_secret_is_one_line_config_error(
    secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_JWT_SECRET", secret)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(
        f"QUANTDESK_JWT_SECRET: must be at least 32 bytes (got {len(secret)})"
    )
    assert "\n" not in message and secret not in message.split("(got")[1]


def test_a_32_byte_jwt_secret_or_none_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTDESK_JWT_SECRET", "é" * 16)  # 32 bytes in UTF-8
    assert load_settings().jwt_secret.get_secret_value() == "é" * 16
    monkeypatch.setenv("QUANTDESK_JWT_SECRET", "")
    assert load_settings().jwt_secret.get_secret_value() == ""


@pytest.mark.parametrize("name", ["MAX_BODY_BYTES", "LOGIN_ATTEMPTS_PER_USER_PER_MINUTE"])
def test_limits_must_be_positive(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"QUANTDESK_{name}", "0")
    with pytest.raises(ConfigError, match=f"QUANTDESK_{name}: must be >= 1"):
        load_settings()
