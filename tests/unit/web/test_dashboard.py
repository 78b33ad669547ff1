"""The dashboard is served by the API server, with a strict script policy."""

from __future__ import annotations

from pathlib import Path

from quantdesk.web.dashboard import STATIC_DIR
from tests.unit.api._app import build


def test_index_modules_and_security_headers(tmp_path: Path) -> None:
    client, store = build(tmp_path)
    with client:
        r = client.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert r.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/static/js/main.js">' in r.text
        js = client.get("/static/js/main.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert client.head("/").status_code == 200
        assert client.get("/static/../pyproject.toml").status_code == 404
        assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/"
        # The dashboard is not an API endpoint.
        assert "/" not in client.get("/openapi.json").json()["paths"]
    store.close()


def test_every_module_the_pages_import_exists() -> None:
    import re

    for js in (STATIC_DIR / "js").rglob("*.js"):
        for target in re.findall(r'from "(\.{1,2}/[^"]+)"', js.read_text()):
            assert (js.parent / target).resolve().is_file(), (js, target)


def test_untrusted_text_never_goes_in_as_html() -> None:
    """The pages build DOM with text nodes only (dom.js): no innerHTML anywhere."""
    for js in (STATIC_DIR / "js").rglob("*.js"):
        text = js.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (js.name, sink)
