"""Front-end assets: pinned tarballs from an npm registry, hash-checked.

A local HTTP server on 127.0.0.1 plays the npm registry (the real one is not
reachable from tests)."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from quantdesk.errors import DependencyError
from quantdesk.web import assets
from quantdesk.web.assets import Asset, _integrity


def _tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, bytes]]]:
    served: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def test_install_verifies_and_extracts(registry, tmp_path: Path) -> None:
    url, served = registry
    tgz = _tarball({"package/dist/lib.js": b"window.Lib = 1;", "package/README.md": b"x"})
    served["/some-lib/-/some-lib-1.2.3.tgz"] = tgz
    asset = Asset("some-lib", "1.2.3", _integrity(tgz), "package/dist/lib.js", "lib.js")
    written = assets.install(url, assets=[asset], target=tmp_path)
    assert (
        written == [tmp_path / "lib.js"]
        and (tmp_path / "lib.js").read_bytes() == b"window.Lib = 1;"
    )
    assert assets.install(url, assets=[asset], target=tmp_path) == []  # present: nothing to do


def test_tampered_tarball_is_refused_and_nothing_written(registry, tmp_path: Path) -> None:
    url, served = registry
    served["/some-lib/-/some-lib-1.2.3.tgz"] = _tarball({"package/dist/lib.js": b"evil()"})
    good = "sha512-" + "A" * 86 + "=="
    asset = Asset("some-lib", "1.2.3", good, "package/dist/lib.js", "lib.js")
    with pytest.raises(DependencyError, match="does not match the pinned integrity"):
        assets.install(url, assets=[asset], target=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_registry_says_what_to_do(tmp_path: Path) -> None:
    asset = Asset("some-lib", "1.0.0", "sha512-x", "package/a.js", "a.js")
    with pytest.raises(DependencyError, match="NPM_CONFIG_REGISTRY"):
        assets.install("http://127.0.0.1:9", assets=[asset], target=tmp_path)


def test_shipped_pins_are_installed() -> None:
    """`make install` fetched every pinned asset; the chart library is the one pinned."""
    assert assets.missing() == []
    lib = (assets.VENDOR_DIR / assets.ASSETS[0].name).read_text()
    assert f"Lightweight Charts™ v{assets.ASSETS[0].version}" in lib[:300]
