"""Property-based run of the OpenAPI schema: no request may get a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.unit.api._app import build, token


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    mp.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    client, store = build(Path(tmp_path_factory.mktemp("fuzz")), trading=True)
    yield client.app, token(client, "admin")
    store.close()
    mp.undo()


def test_no_5xx_anywhere(fuzz_app) -> None:
    app, tok = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls = [0]
    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.path == "/api/auth/token":
            continue  # argon2 per example; covered by test_auth

        strategy = operation.as_strategy()

        @given(case=strategy)
        @settings(
            max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case) -> None:
            calls[0] += 1
            response = case.call(headers={"Authorization": f"Bearer {tok}"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        run()
    assert calls[0] > 50
    assert not failures, failures[:5]
