"""One registry for every plug point: bus, sources, tweet sources, history providers,
storage backends, brokers, strategies, models and jobs.

An implementation is registered under a name, either as the object itself or as a
lazy ``"package.module:Attr"`` string that is imported on first use (so a plug point
with a heavy implementation costs nothing until it is chosen)::

    BROKERS: Registry[type[Broker]] = Registry("broker", "QUANTDESK_BROKER")
    BROKERS.register("paper", "quantdesk.trading.brokers.paper:PaperBroker")

    cls = BROKERS.get(settings.broker)     # imports on first use
    BROKERS.names()                        # ['alpaca', 'paper']

A user's package adds its own the same way (``BROKERS.register("mybroker",
"mypkg.broker:MyBroker")``) before the settings are loaded, or through the Python
entry-point group ``quantdesk.<kind>s`` (e.g. ``quantdesk.brokers``; ``group=`` names
another, e.g. ``quantdesk.buses``), which is read the first time a registry is asked
for names. Settings validate a configured name
against the registry, so a registered plug-in is selectable from configuration.

An unknown name raises :class:`~quantdesk.errors.ConfigError` with one line that
lists the known names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib import metadata
from typing import Generic, TypeVar

from quantdesk.errors import ConfigError, DependencyError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> implementations (objects or lazy ``"module:Attr"`` strings).

    ``kind`` names the plug point in error messages ("bus", "broker", ...);
    ``setting`` is the setting that chooses it (e.g. ``QUANTDESK_BUS``), named in
    the error so the user knows what to change.
    """

    def __init__(self, kind: str, setting: str = "", *, group: str = "") -> None:
        self.kind = kind
        self.setting = setting
        #: the entry-point group read for plug-ins of installed packages
        self.group = group or f"quantdesk.{kind.replace(' ', '_')}s"
        self._entries: dict[str, T | str] = {}
        self._entry_points_loaded = False

    def register(self, name: str, impl: T | str, *, replace: bool = True) -> None:
        """Register ``impl`` (an object or ``"module:Attr"``) under ``name``."""
        key = name.strip().lower()
        if not key:
            raise ValueError(f"{self.kind}: an implementation needs a non-empty name")
        if not replace and key in self._entries:
            raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[key] = impl

    def unregister(self, name: str) -> None:
        self._entries.pop(name.strip().lower(), None)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        try:
            eps = metadata.entry_points(group=self.group)
        except Exception:  # a broken distribution must not stop the platform
            return
        for ep in eps:
            self._entries.setdefault(ep.name.lower(), ep.value)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return isinstance(name, str) and name.strip().lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def unknown(self, name: str) -> ConfigError:
        """The one-line error for an unknown ``name``."""
        where = f"{self.setting}: " if self.setting else ""
        known = ", ".join(self.names()) or "(none registered)"
        return ConfigError(f"{where}unknown {self.kind} {name!r}; known: {known}")

    def check(self, name: str) -> str:
        """``name`` normalised, or the one-line error if nothing is registered under it."""
        key = name.strip().lower()
        if key not in self:
            raise self.unknown(name)
        return key

    def get(self, name: str) -> T:
        """The implementation registered under ``name``, imported on first use."""
        key = self.check(name)
        entry = self._entries[key]
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                missing = exc.name or module_name
                if missing.split(".")[0] == "quantdesk":
                    raise
                raise DependencyError(
                    f"{self.kind} {key!r} needs the Python package {missing!r}:"
                    f" pip install {missing.split('.')[0]}"
                ) from exc
            obj: T = getattr(module, attr) if attr else module  # type: ignore[assignment]
            self._entries[key] = obj
            return obj
        return entry
