"""Model versions: artifact files plus stored rows, aliases, and the :class:`Predictor`.

As in MLflow's registry, every trained model is an immutable *version* and
mutable *aliases* point at versions: ``champion`` (what the platform predicts
with) and ``challenger`` (the newest candidate). Training only ever adds a
version and moves ``challenger``; ``champion`` moves only by promotion (CLI,
later the API), and every move is recorded so it can be rolled back. A
training run that fails writes no row, so it can never replace the champion.

Artifacts live under ``<model_dir>/<name>/<version>.qdm`` (written atomically
before the row is stored); the row keeps the file's SHA-256, and a file that
does not match it is refused with one error.

:class:`Predictor` serves one alias of one model and can be swapped while
requests run: :meth:`Predictor.refresh` loads the new version completely, then
replaces the reference in one assignment (readers see the old model or the
new one, never a half-loaded one). Hot reload in the running platform calls
it when the alias moves.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from quantdesk.errors import ModelError, NotFoundError
from quantdesk.models.base import Model, model_from_bytes
from quantdesk.models.datasets.base import Dataset
from quantdesk.storage.models import ModelVersionRepository, VersionRow, create_tables

ALIASES = ("champion", "challenger")


class ModelRegistry:
    """Versions of every model: files under ``model_dir``, rows in the database."""

    def __init__(self, engine: sa.Engine, model_dir: str | Path, *, create: bool = True) -> None:
        self.engine = engine
        self.model_dir = Path(model_dir)
        if create:
            create_tables(engine)
        self.versions = ModelVersionRepository(engine)

    def register(
        self,
        model: Model,
        data: Dataset,
        *,
        metrics: dict[str, Any] | None = None,
        parent_version: int | None = None,
    ) -> VersionRow:
        """Store ``model`` (trained on ``data``) as the next version of its name."""
        blob = model.to_bytes()
        version = self.versions.next_version(model.name)
        rel = Path(model.name) / f"{version}.qdm"
        path = self.model_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".qdm.tmp")
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        labelled = data.labelled()
        days = data.days[labelled]
        row = VersionRow(
            name=model.name,
            version=version,
            dataset=data.name,
            params=model.params,
            seed=model.seed,
            data_start=days.min().astype(object) if len(days) else None,
            data_end=days.max().astype(object) if len(days) else None,
            symbols=sorted(set(data.symbols[labelled].tolist())),
            features=list(model.features),
            targets=list(model.targets),
            metrics=metrics or {},
            created_at=int(time.time() * 1000),
            parent_version=parent_version,
            artifact=rel.as_posix(),
            sha256=hashlib.sha256(blob).hexdigest(),
            size_bytes=len(blob),
        )
        self.versions.add(row)
        return row

    def resolve(self, name: str, ref: int | str | None = None) -> VersionRow:
        """The version row of ``ref``: a version number, an alias, or (None) the champion,
        else the newest version."""
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.versions.get(name, int(ref))
        if ref is None:
            champ = self.versions.alias(name, "champion")
            if champ is not None:
                return self.versions.get(name, champ)
            newest = self.versions.latest(name)
            if newest is None:
                raise NotFoundError(f"model {name} has no version: train it first")
            return newest
        version = self.versions.alias(name, ref)
        if version is None:
            raise NotFoundError(f"model {name} has no {ref}")
        return self.versions.get(name, version)

    def load(self, name: str, ref: int | str | None = None) -> tuple[Model, VersionRow]:
        """The model of ``ref`` (see :meth:`resolve`), its file checked against its row."""
        row = self.resolve(name, ref)
        path = self.model_dir / row.artifact
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(
                f"model {name} version {row.version}: artifact {path} is missing"
            ) from None
        if hashlib.sha256(blob).hexdigest() != row.sha256:
            raise ModelError(
                f"model artifact {path} is corrupt (checksum differs from the stored one):"
                " retrain it or promote another version"
            )
        return model_from_bytes(blob, str(path)), row

    def promote(self, name: str, version: int, alias: str = "champion") -> int | None:
        """Point ``alias`` at ``version`` (checked to load); return the previous version."""
        self.load(name, version)
        return self.versions.set_alias(name, alias, version)

    def rollback(self, name: str, alias: str = "champion") -> int:
        return self.versions.rollback(name, alias)

    def prune_unaliased(self, keep_newest: int, older_than_ms: int) -> int:
        """Delete versions no alias points at, created before ``older_than_ms``, except
        each model's newest ``keep_newest`` of them: the row first, then the file (a crash between
        leaves an orphan file, never a row without its file). Returns how many."""
        deleted = 0
        for name in self.versions.names():
            free = [r for r in self.versions.list_versions(name) if not r.aliases]
            keep = {r.version for r in free[-keep_newest:]} if keep_newest > 0 else set()
            for r in free:
                if r.version in keep or r.created_at >= older_than_ms:
                    continue
                if self.versions.delete(name, r.version):
                    (self.model_dir / r.artifact).unlink(missing_ok=True)
                    deleted += 1
        return deleted


class Predictor:
    """Serves ``alias`` of model ``name``; :meth:`refresh` swaps in a newly promoted version."""

    def __init__(self, registry: ModelRegistry, name: str, alias: str | None = "champion") -> None:
        self.registry = registry
        self.name = name
        self.alias = alias
        self._lock = threading.Lock()
        self._current: tuple[Model, VersionRow] | None = None

    def _wanted(self) -> VersionRow:
        if self.alias is None:
            return self.registry.resolve(self.name, None)
        try:
            return self.registry.resolve(self.name, self.alias)
        except NotFoundError:
            if self.alias != "champion":
                raise
            return self.registry.resolve(self.name, None)

    def current(self) -> tuple[Model, VersionRow]:
        pair = self._current
        if pair is None:
            self.refresh()
            pair = self._current
        assert pair is not None
        return pair

    def wanted_version(self) -> int | None:
        """The version the alias points at now (one indexed read; the champion falls back
        to the newest version); None when there is none."""
        versions = self.registry.versions
        v = versions.alias(self.name, self.alias) if self.alias is not None else None
        if v is None and self.alias in (None, "champion"):
            newest = versions.next_version(self.name) - 1
            v = newest if newest > 0 else None
        return v

    def refresh(self) -> bool:
        """Load the alias's version if it changed; True when the served model was swapped.

        Cheap when nothing changed (one read of the alias row), so a server may call it
        before every prediction: a promotion is served from the next call on."""
        current = self._current
        if current is not None and self.wanted_version() == current[1].version:
            return False
        with self._lock:
            row = self._wanted()
            current = self._current
            if current is not None and current[1].version == row.version:
                return False
            model, row = self.registry.load(self.name, row.version)
            self._current = (model, row)  # one assignment: readers never see half a swap
            return True

    @property
    def version(self) -> int:
        return self.current()[1].version

    def predict(self, data: Dataset) -> np.ndarray:
        model, _ = self.current()
        return model.predict(data)
