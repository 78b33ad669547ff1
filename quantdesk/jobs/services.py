"""The seams between the jobs and the trading and model packages.

The trading-day jobs do not trade or predict themselves: ``sell``/``buy`` call a
strategy's halves, ``predict`` a predictor, ``train`` a trainer, ``order_sync``
the broker's settlement, and ``cleanup`` prunes model versions through the
model registry. Each is a small protocol below, found by name at run time:

1. an object the runner handed over (``JobEnvironment.services[key]``), else
2. the implementation named by a setting (``QUANTDESK_STRATEGY`` ...) in the
   plug point's registry (:class:`quantdesk.plugins.Registry`), imported lazily.
   A class or module with a ``for_jobs(ctx)`` factory is asked for the object;
   otherwise the registered object itself must fit the protocol.

When the package, the registry, the name or the protocol is missing, the run is
recorded ``skipped`` with that one-line reason (:class:`~quantdesk.errors.JobSkipped`),
never with a made-up result. The live objects (the runner's trader with its
broker and risk engine, the model service) are best handed over by the runner
through ``services``: a registered strategy *class* alone cannot trade.

================  ==========================================  ===================  ===========
key               protocol (methods)                          registry             setting
================  ==========================================  ===================  ===========
``strategy``      :class:`StrategyHalves` (``sell_half``,     ``quantdesk.trading  ``strategy``
                  ``buy_half``)                               .strategies:         (``t1``)
                                                              STRATEGIES``
``broker``        :class:`Settler` (``settle_day``)           ``quantdesk.trading  ``broker``
                                                              .brokers:BROKERS``   (``paper``)
``predictor``     :class:`Predictor` (``predict_day``)        ``quantdesk.models.  ``model``
                                                              base:MODELS``        (``lstm``)
``trainer``       :class:`Trainer` (``train_incremental``)    ``quantdesk.models.  ``model``
                                                              base:MODELS``        (``lstm``)
``model_versions`` :class:`ModelVersionPruner`                ``quantdesk.models.  ``model``
                  (``prune_unaliased``)                       base:MODELS``        (``lstm``)
================  ==========================================  ===================  ===========
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from quantdesk.errors import DependencyError, JobSkipped

if TYPE_CHECKING:
    from quantdesk.calendars import ExchangeCalendar
    from quantdesk.jobs.base import JobContext

__all__ = [
    "SERVICES",
    "ModelVersionPruner",
    "Predictor",
    "Service",
    "Settler",
    "StrategyHalves",
    "TradingDay",
    "Trainer",
    "resolve",
]


@dataclass(frozen=True, slots=True)
class TradingDay:
    """What a strategy half, a predictor or the settlement is told about the moment.

    ``day`` is the exchange-local trading day; ``decision_ms`` the exchange-clock
    instant of the decision (the job's start): data after it must not be used.
    ``fire_ms`` is the scheduled time.
    """

    market: str
    day: dt.date
    fire_ms: int
    decision_ms: int
    calendar: ExchangeCalendar


@runtime_checkable
class StrategyHalves(Protocol):
    """Seed B's T+1 strategy split in two (the trading package's ``t1``)."""

    def sell_half(self, day: TradingDay) -> Mapping[str, Any]:
        """Morning: sell what is sellable; return what was done (order ids, counts)."""
        ...

    def buy_half(self, day: TradingDay, prediction: Mapping[str, Any]) -> Mapping[str, Any]:
        """Afternoon: buy on ``prediction`` (as :meth:`Predictor.predict_day` returned it,
        ``id`` first); return what was done."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """Tomorrow's predictions for every stock, stored by the model package."""

    def predict_day(self, day: TradingDay) -> Mapping[str, Any]:
        """Predict and store; return a reference to what was stored: at least ``id``
        (e.g. model, version and time made), plus ``model``, ``version``,
        ``target_day`` and ``count`` where known."""
        ...


@runtime_checkable
class Trainer(Protocol):
    """Incremental training (seed B's weekly update)."""

    def train_incremental(self, start_ms: int, end_ms: int) -> Mapping[str, Any]:
        """Continue from the newest version on the data in ``[start_ms, end_ms)``; return
        at least ``version`` and ``parent``."""
        ...


@runtime_checkable
class Settler(Protocol):
    """The broker's end of day: the day's orders and fills settled, the day's P&L stored."""

    def settle_day(self, day: TradingDay) -> Mapping[str, Any]: ...


@runtime_checkable
class ModelVersionPruner(Protocol):
    """Data retention for the model registry."""

    def prune_unaliased(self, keep_newest: int, older_than_ms: int) -> int:
        """Delete versions with no alias, except the newest ``keep_newest`` of each model,
        created before ``older_than_ms``; return how many were deleted."""
        ...


@dataclass(frozen=True, slots=True)
class Service:
    key: str
    protocol: type
    registry: str  # "module:ATTR" of the plug point's Registry
    setting: str  # Settings attribute naming the implementation
    default: str  # the name when the setting does not exist (yet)

    @property
    def methods(self) -> str:
        names = [n for n in vars(self.protocol) if not n.startswith("_")]
        return ", ".join(sorted(names))


SERVICES: Final[dict[str, Service]] = {
    s.key: s
    for s in (
        Service(
            "strategy", StrategyHalves, "quantdesk.trading.strategies:STRATEGIES", "strategy", "t1"
        ),
        Service("broker", Settler, "quantdesk.trading.brokers:BROKERS", "broker", "paper"),
        Service("predictor", Predictor, "quantdesk.models.base:MODELS", "model", "lstm"),
        Service("trainer", Trainer, "quantdesk.models.base:MODELS", "model", "lstm"),
        Service(
            "model_versions", ModelVersionPruner, "quantdesk.models.base:MODELS", "model", "lstm"
        ),
    )
}


def trading_day(ctx: JobContext) -> TradingDay:
    return TradingDay(ctx.market, ctx.day, ctx.fire_ms, ctx.now_ms, ctx.calendar)


def resolve(ctx: JobContext, key: str) -> Any:
    """The object serving ``key`` for this run, or :class:`JobSkipped` saying why not."""
    svc = SERVICES[key]
    given = ctx.env.services.get(key)
    if given is not None:
        obj, label = given, f"{key} (given by the runner)"
    else:
        name = str(getattr(ctx.settings, svc.setting, svc.default) or svc.default)
        label = f"{key} {name!r}"
        impl = _lookup(svc, name)
        factory = getattr(impl, "for_jobs", None)
        obj = factory(ctx) if callable(factory) else impl
    if not isinstance(obj, svc.protocol):
        raise JobSkipped(
            f"{label} does not provide {svc.methods} (the jobs' {svc.protocol.__name__} "
            "protocol, quantdesk/jobs/services.py)"
        )
    ctx.inputs.setdefault("services", {})[key] = label
    return obj


def _lookup(svc: Service, name: str) -> Any:
    module_name, _, attr = svc.registry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if not module_name.startswith(missing):
            raise  # a real missing import inside the package: a bug, let it fail
        raise JobSkipped(
            f"{svc.key}: {module_name} is not part of this build, so there is no {svc.key} to call"
        ) from None
    registry = getattr(module, attr, None)
    if registry is None:
        raise JobSkipped(f"{svc.key}: {module_name} has no registry {attr}")
    if name not in registry:
        known = ", ".join(registry.names()) or "none"
        raise JobSkipped(f"{svc.key}: no implementation named {name!r} (known: {known})")
    try:
        return registry.get(name)
    except DependencyError as exc:
        raise JobSkipped(f"{svc.key} {name!r}: {exc}") from None
