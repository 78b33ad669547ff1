"""Property-based run of the OpenAPI schema: no request may get a 5xx.

Three passes over every operation: schema-valid examples (positive), schema-
violating ones (negative), and each string query or path parameter set to
each of a list of hostile values (signs doubled, NUL bytes, huge numbers,
dots, non-ASCII digits) with the other parameters generated. The hostile
pass is what finds a parser that is not total (``start=--5`` was a 500).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.unit.api._app import build, token

#: values a careless parser chokes on (each once per string parameter)
HOSTILE = (
    "--5",
    "---1",
    "-",
    "+-1",
    "- 5",
    "\x00",
    "a\x00b",
    "..",
    "../..",
    "9" * 40,
    "-" + "9" * 40,
    "1e309",
    "NaN",
    "inf",
    "٣٤٥",  # Arabic-Indic digits: str.isdigit() says yes, int() agrees, ISO 8601 does not
    "²",  # a digit to str.isdigit(), not to int()
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30",
    "T",
    " ",
    "%",
    "*",
    "\u202e",
    "x" * 5000,
)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    mp.setenv("QUANTDESK_ADMIN_PASSWORD", "admin-pw")
    client, store = build(Path(tmp_path_factory.mktemp("fuzz")))
    yield client.app, token(client, "admin")
    store.close()
    mp.undo()


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [op.ok() for op in schema.get_all_operations()]
    return [op for op in ops if op.path != "/api/auth/token"]  # argon2 per example: test_auth


def _run(strategy: Any, tok: str, failures: list[str], calls: list[int], examples: int) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        calls[0] += 1
        response = case.call(headers={"Authorization": f"Bearer {tok}"})
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}"
            )

    run()


def test_no_5xx_on_generated_requests(fuzz_app) -> None:
    app, tok = fuzz_app
    failures: list[str] = []
    calls = [0]
    for operation in _operations(app):
        _run(operation.as_strategy(), tok, failures, calls, 25)
        with contextlib.suppress(Unsatisfiable):  # nothing to violate (no parameters)
            _run(operation.as_strategy(GenerationMode.NEGATIVE), tok, failures, calls, 10)
    assert calls[0] > 300
    assert not failures, failures[:5]


def _string_params(operation: Any) -> list[tuple[str, str]]:
    out = []
    for param in operation.definition.raw.get("parameters", []):
        schema = param.get("schema", {})
        kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
        if "string" in kinds and param.get("in") in ("query", "path"):
            out.append((param["in"], param["name"]))
    return out


def test_no_5xx_on_hostile_parameters(fuzz_app) -> None:
    app, tok = fuzz_app
    failures: list[str] = []
    calls = [0]
    tried: set[str] = set()
    for operation in _operations(app):
        for where, name in _string_params(operation):
            tried.add(name)
            for value in HOSTILE:
                if where == "query":
                    strategy = operation.as_strategy(query={name: value})
                else:
                    if "/" in value or value.strip() == "" or "%" in value:
                        continue  # would not route to this operation at all
                    strategy = operation.as_strategy(path_parameters={name: value})
                _run(strategy, tok, failures, calls, 1)
    assert {"start", "end", "symbol", "interval", "rule_id"} <= tried
    assert not failures, failures[:5]
