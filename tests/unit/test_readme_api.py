"""The README's API table is the app's route list: every route documented, none invented."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount

from tests.unit.api._app import build

README = (Path(__file__).resolve().parents[1].parent / "README.md").read_text(encoding="utf-8")

_ENDPOINT = re.compile(
    r"`((?:GET|POST|PUT|DELETE|PATCH|WS)(?:/(?:GET|POST|PUT|DELETE|PATCH))*) (/[^`\s]*)`"
)


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def documented() -> set[tuple[str, str]]:
    """(method, path) of every endpoint named in the second column of the API tables."""
    section = README[README.index("\n## API\n") :]
    section = section[: section.index("\n## ", 1)]
    out: set[tuple[str, str]] = set()
    for line in section.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| ") or len(cells) < 3:
            continue
        for methods, path in _ENDPOINT.findall(cells[1]):
            for method in methods.split("/"):
                out.add((method, _norm(path)))
    return out


def _walk(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x includes lazily
        if inner is not None:
            assert not getattr(getattr(route, "include_context", None), "prefix", ""), route
            yield from _walk(inner.routes)
        else:
            yield route


def served(app: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in _walk(app.routes):
        if isinstance(route, Mount):  # /static: the dashboard's files
            continue
        methods = getattr(route, "methods", None)
        if methods is None:  # a WebSocket route
            out.add(("WS", _norm(route.path)))
        else:
            out.update((m, _norm(route.path)) for m in methods if m != "HEAD")
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    mp = pytest.MonkeyPatch()
    mp.setenv("QUANTDESK_ARGON2_TIME_COST", "1")
    mp.setenv("QUANTDESK_ARGON2_MEMORY_KIB", "64")
    client, store = build(tmp_path_factory.mktemp("readme"))
    yield client.app
    store.close()
    mp.undo()


def test_every_route_is_documented_and_no_documented_route_is_missing(app: Any) -> None:
    routes, docs = served(app), documented()
    assert ("GET", "/api/klines") in routes and ("WS", "/ws/market") in routes  # the walk works
    missing = sorted(routes - docs)
    stale = sorted(docs - routes)
    assert not missing, f"routes missing from the README's API table: {missing}"
    assert not stale, f"README documents routes the app does not serve: {stale}"


def test_no_stale_promises() -> None:
    assert "in a later release" not in README
    data_model = README[README.index("## Data model") :]
    data_model = data_model[: data_model.index("\n## ", 1)]
    for table in ("users", "signal_rules", "api_keys", "audit_log"):
        assert f"| `{table}` |" in data_model, table
