"""Front-end dependencies of the dashboard, fetched from the npm registry.

The dashboard is plain ES modules with no build step; its one third-party
library is TradingView's lightweight-charts, used as its standalone
production bundle. The API docs (``/docs``: Swagger UI, ``/redoc``: ReDoc)
are served from here too, never from a CDN (:mod:`quantdesk.web.docs`).
The set-up commands (``make install``, ``make install-test``) run
``python -m quantdesk.web.assets``, which downloads each pinned package
tarball from the npm registry, checks it against the ``integrity``
(SHA-512, the hash npm's lock files record) and extracts the files the
pages load into ``quantdesk/web/static/vendor/``. The page is
then served by quantdesk itself: no CDN, no internet at run time, and no
Node.js needed on the machine.

Why not npm: the README promises a fresh Linux machine with Python; Node.js
is not on every such machine, and a single pinned, hash-checked file needs
no package manager. ``NPM_CONFIG_REGISTRY`` (npm's own variable) points at a
mirror.

=============================  =========  ===================================
package                        version    file served as /static/vendor/...
=============================  =========  ===================================
lightweight-charts             5.2.1      lightweight-charts.standalone.production.js
swagger-ui-dist (Apache-2.0)   5.35.0     swagger-ui-bundle.js, swagger-ui.css,
                                          swagger-favicon-32x32.png
redoc (MIT)                    2.5.4      redoc.standalone.js
=============================  =========  ===================================

Several files of one package come from one download.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from quantdesk.errors import DependencyError

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Asset:
    """One file taken from one pinned npm package."""

    package: str
    version: str
    integrity: str  # "sha512-<base64>" of the tarball, as in package-lock.json
    member: str  # path inside the tarball
    name: str  # file name under vendor/

    def tarball_url(self, registry: str) -> str:
        base = self.package.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.package}/-/{base}-{self.version}.tgz"


ASSETS: tuple[Asset, ...] = (
    Asset(
        package="lightweight-charts",
        version="5.2.1",
        integrity=(
            "sha512-IVwoK1RLFiLPubaKIjNbtjWLnpPMqiABSrTay6whmNa8L1+19292VtHJ+BWyPUuLCwF0tcQlhEWd1CLB2a1nsQ=="
        ),
        member="package/dist/lightweight-charts.standalone.production.js",
        name="lightweight-charts.standalone.production.js",
    ),
    *(
        Asset(
            package="swagger-ui-dist",
            version="5.35.0",
            integrity=(
                "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
            ),
            member=f"package/{member}",
            name=name,
        )
        for member, name in (
            ("swagger-ui-bundle.js", "swagger-ui-bundle.js"),
            ("swagger-ui.css", "swagger-ui.css"),
            ("favicon-32x32.png", "swagger-favicon-32x32.png"),
        )
    ),
    Asset(
        package="redoc",
        version="2.5.4",
        integrity=(
            "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ=="
        ),
        member="package/bundles/redoc.standalone.js",
        name="redoc.standalone.js",
    ),
)


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def missing(assets: Sequence[Asset] = ASSETS, target: Path = VENDOR_DIR) -> list[Asset]:
    """The assets not yet in ``target``."""
    return [a for a in assets if not (target / a.name).is_file()]


def install(
    registry: str | None = None,
    *,
    force: bool = False,
    assets: Sequence[Asset] = ASSETS,
    target: Path = VENDOR_DIR,
) -> list[Path]:
    """Download, verify and extract into ``target`` every asset not there (all with ``force``)."""
    registry = registry or os.environ.get("NPM_CONFIG_REGISTRY") or DEFAULT_REGISTRY
    written = []
    downloaded: dict[str, bytes] = {}  # one download per package tarball
    for asset in assets if force else missing(assets, target):
        url = asset.tarball_url(registry)
        if url in downloaded:
            data = downloaded[url]
        else:
            try:
                with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                    data = downloaded[url] = response.read()
            except OSError as exc:
                raise DependencyError(
                    f"dashboard asset {asset.package}@{asset.version}: cannot download {url} "
                    f"({exc}); set NPM_CONFIG_REGISTRY to a reachable npm registry mirror"
                ) from None
        got = _integrity(data)
        if got != asset.integrity:
            raise DependencyError(
                f"dashboard asset {asset.package}@{asset.version}: {url} does not match the"
                f" pinned integrity (got {got[:24]}..., want {asset.integrity[:24]}...)"
            )
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            member = tar.extractfile(asset.member)
            if member is None:
                raise DependencyError(f"{asset.package}: {asset.member} is not in the tarball")
            content = member.read()
        path = target / asset.name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(content)
        tmp.replace(path)  # never a half-written file under the final name
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        paths = install(force="--force" in args)
    except DependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"dashboard asset: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
