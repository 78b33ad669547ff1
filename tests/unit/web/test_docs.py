"""``/docs`` and ``/redoc`` work offline: every file they load is served by quantdesk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quantdesk.web import docs
from tests.unit.api._app import build


@pytest.fixture
def client(tmp_path: Path):
    c, store = build(tmp_path)
    yield c
    store.close()


@pytest.mark.parametrize(("path", "marker"), [("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")])
def test_docs_load_only_local_files(client, path: str, marker: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and marker in r.text
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text) + re.findall(r"url: '([^']+)'", r.text)
    assert refs, r.text
    for ref in refs:
        assert ref.startswith("/"), f"{path} loads {ref} from elsewhere"
        got = client.get(ref)
        assert got.status_code == 200, ref
        assert len(got.content) > 100, ref
    assert "googleapis" not in r.text and "cdn." not in r.text


def test_swagger_oauth2_redirect_is_served(client) -> None:
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_missing_assets_say_how_to_install(client, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(docs, "VENDOR_DIR", tmp_path / "empty")
    r = client.get("/docs")
    assert r.status_code == 503
    assert "python -m quantdesk.web.assets" in r.json()["detail"]
