"""Threshold-crossing signal rules over factor and indicator values (seed A).

A :class:`SignalRule` watches one factor name (``obi``, ``microprice``,
``rsi_14`` ...) for one symbol or all of them and emits a
:class:`~quantdesk.domain.messages.Signal` when the value *crosses* a
threshold. A rule has one of two forms:

=====================  ==============================================  ==========
form                   fires when the value moves from ... to ...      e.g.
=====================  ==============================================  ==========
trend (``*_above`` /   buy: ``<= buy_above`` to ``> buy_above``;        OBI 0.6 /
``*_below`` as named)  sell: ``>= sell_below`` to ``< sell_below``      -0.6
mirror                 buy: ``>= buy_below`` to ``< buy_below``;        RSI 30 /
                       sell: ``<= sell_above`` to ``> sell_above``      70
=====================  ==============================================  ==========

Choices, on purpose:

- **Crossings, not levels.** The first observation of a series only records
  the value: with nothing before it there is no crossing, so starting the
  platform while OBI already sits at 0.9 emits nothing until OBI falls back
  to <= 0.6 and rises above it again.
- **A series is (rule, symbol, interval).** ``rsi_14`` on 1m and on 5m bars
  are two series and never cross each other; ``interval`` on a rule narrows
  it to one.
- **Cooldown in event time.** After a signal for (rule, series) at ``ts``,
  that rule emits nothing more for that series until ``ts + cooldown_ms``.
  Crossings inside the cooldown are dropped (not deferred): the previous
  value keeps following the series, so the next signal is a fresh crossing.
- **Thresholds.** All finite; a rule needs at least one; trend and mirror
  keys do not mix in one rule; ``buy_above >= sell_below`` (and
  ``sell_above >= buy_below``): equal values are allowed for zero-line rules
  such as a MACD histogram crossing 0, an inverted band is rejected as a
  typo. In either form one value can never fire both sides.
- **Missing values.** A NaN or infinite value is ignored: it neither fires
  nor replaces the previous value (indicators are NaN while warming up).

:class:`SignalEngine` may have its rules changed from another thread (the
API) while the stream thread calls :meth:`SignalEngine.on_factor`: writers
build a new immutable rule table under a lock and swap it in with one
assignment; the stream thread reads the table reference once per value.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from quantdesk.domain.messages import FactorValue, Signal
from quantdesk.errors import ConfigError, NotFoundError

log = logging.getLogger("quantdesk.signals")

__all__ = [
    "RULE_ID_PATTERN",
    "RULE_KEYS",
    "SignalEngine",
    "SignalRule",
    "merge_rules",
    "rules_from_config",
]

_THRESHOLDS: Final = ("buy_above", "sell_below", "buy_below", "sell_above")


@dataclass(frozen=True, slots=True)
class SignalRule:
    """One threshold rule; see the module docstring for the semantics.

    ``symbol`` ``None`` or ``"*"`` matches every symbol; ``interval`` ``None``
    matches every interval (book factors have interval ``""``).
    """

    id: str
    factor: str
    symbol: str | None = None
    buy_above: float | None = None
    sell_below: float | None = None
    cooldown_ms: int = 0
    enabled: bool = True
    buy_below: float | None = None
    sell_above: float | None = None
    interval: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def all_symbols(self) -> bool:
        return self.symbol is None or self.symbol == "*"

    def to_dict(self) -> dict[str, Any]:
        """The rule as plain data; ``rules_from_config([rule.to_dict()])`` round-trips."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Keys a rule accepts in config (the :class:`SignalRule` fields).
RULE_KEYS: Final = tuple(f.name for f in fields(SignalRule))


#: A rule id: 1-64 ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter,
#: digit or ``_``, with no ``..``: safe in a URL path, a log line and a file name.
#: (No look-ahead: the same pattern goes into the OpenAPI schema and pydantic.)
RULE_ID_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$"
_RULE_ID = re.compile(RULE_ID_PATTERN)


def _validate(rule: SignalRule) -> None:
    where = f"signal rule {rule.id!r}"
    rid = rule.id
    if not isinstance(rid, str) or len(rid) > 64 or not _RULE_ID.fullmatch(rid):
        raise ConfigError(
            "signal rule id must be 1-64 letters, digits, '_', '-' or '.' (no '..', not "
            f"starting with '.' or '-', not ending with '.'), got {str(rid)[:80]!r}"
        )
    if not isinstance(rule.factor, str) or not rule.factor:
        raise ConfigError(f"{where}: factor must be a non-empty name such as 'obi'")
    for key in ("symbol", "interval"):
        value = getattr(rule, key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}: {key} must be a non-empty string or null, got {value!r}")
    set_count = 0
    for key in _THRESHOLDS:
        value = getattr(rule, key)
        if value is None:
            continue
        set_count += 1
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
    if set_count == 0:
        raise ConfigError(
            f"{where}: set at least one threshold (buy_above, sell_below, buy_below, sell_above)"
        )
    trend = rule.buy_above is not None or rule.sell_below is not None
    mirror = rule.buy_below is not None or rule.sell_above is not None
    if trend and mirror:
        raise ConfigError(
            f"{where}: use buy_above/sell_below or buy_below/sell_above, not both forms; "
            "split it into two rules"
        )
    ba, sb, bb, sa = rule.buy_above, rule.sell_below, rule.buy_below, rule.sell_above
    if ba is not None and sb is not None and ba < sb:
        raise ConfigError(
            f"{where}: buy_above {ba} is below sell_below {sb}; buy_above must be >= sell_below"
        )
    if bb is not None and sa is not None and sa < bb:
        raise ConfigError(
            f"{where}: sell_above {sa} is below buy_below {bb}; sell_above must be >= buy_below"
        )
    cooldown = rule.cooldown_ms
    if isinstance(cooldown, bool) or not isinstance(cooldown, int) or cooldown < 0:
        raise ConfigError(f"{where}: cooldown_ms must be an integer >= 0, got {cooldown!r}")
    if not isinstance(rule.enabled, bool):
        raise ConfigError(f"{where}: enabled must be true or false, got {rule.enabled!r}")


def rules_from_config(data: Sequence[Mapping[str, Any]]) -> list[SignalRule]:
    """Build rules from config data (a list of tables); one-line ConfigError on a bad rule."""
    if isinstance(data, str | bytes | Mapping) or not isinstance(data, Sequence):
        raise ConfigError(f"signal rules must be a list of tables, got {type(data).__name__}")
    rules: list[SignalRule] = []
    seen: set[str] = set()
    for n, item in enumerate(data, 1):
        if not isinstance(item, Mapping):
            raise ConfigError(f"signal rule #{n} must be a table, got {type(item).__name__}")
        unknown = sorted(str(k) for k in item if k not in RULE_KEYS)
        if unknown:
            raise ConfigError(
                f"signal rule #{n}: unknown key {unknown[0]!r}; allowed: {', '.join(RULE_KEYS)}"
            )
        for key in ("id", "factor"):
            if key not in item:
                raise ConfigError(f"signal rule #{n}: missing required key {key!r}")
        try:
            rule = SignalRule(**item)
        except ConfigError as exc:
            raise ConfigError(f"signal rule #{n}: {exc}") from None
        if rule.id in seen:
            raise ConfigError(f"signal rule #{n}: duplicate id {rule.id!r}; ids must be unique")
        seen.add(rule.id)
        rules.append(rule)
    return rules


class _Series:
    """Per (rule, symbol, interval) state; touched only by the stream thread."""

    __slots__ = ("last_ts", "prev")

    def __init__(self, prev: float) -> None:
        self.prev = prev
        self.last_ts: int | None = None


class _Entry:
    """A rule plus its series state; immutable apart from the ``series`` dict."""

    __slots__ = ("rule", "series")

    def __init__(self, rule: SignalRule, series: dict[tuple[str, str], _Series]) -> None:
        self.rule = rule
        self.series = series


class _Table:
    """An immutable snapshot of the rule set, indexed by factor name."""

    __slots__ = ("by_factor", "entries")

    def __init__(self, entries: dict[str, _Entry]) -> None:
        self.entries = entries
        by_factor: dict[str, list[_Entry]] = {}
        for entry in entries.values():
            if entry.rule.enabled:
                by_factor.setdefault(entry.rule.factor, []).append(entry)
        self.by_factor: dict[str, tuple[_Entry, ...]] = {
            name: tuple(group) for name, group in by_factor.items()
        }


class SignalEngine:
    """Stream operator: factor values in, buy/sell :class:`Signal` messages out."""

    def __init__(self, rules: Iterable[SignalRule] = ()) -> None:
        entries: dict[str, _Entry] = {}
        for rule in rules:
            if rule.id in entries:
                raise ConfigError(f"duplicate signal rule id {rule.id!r}; ids must be unique")
            entries[rule.id] = _Entry(rule, {})
        self._lock = threading.Lock()
        self._table = _Table(entries)

    # -- run-time rule changes (any thread) ---------------------------------

    def rules(self) -> list[SignalRule]:
        """The current rules, in the order they were added."""
        return [entry.rule for entry in self._table.entries.values()]

    def get_rule(self, rule_id: str) -> SignalRule:
        entry = self._table.entries.get(rule_id)
        if entry is None:
            raise NotFoundError(f"no signal rule with id {rule_id!r}")
        return entry.rule

    def add_rule(self, rule: SignalRule) -> None:
        """Add a new rule; its series start fresh (first value only recorded)."""
        with self._lock:
            entries = self._table.entries
            if rule.id in entries:
                raise ConfigError(
                    f"signal rule {rule.id!r} already exists; update or remove it first"
                )
            self._table = _Table({**entries, rule.id: _Entry(rule, {})})

    def update_rule(self, rule: SignalRule) -> None:
        """Replace the rule with the same id, effective from the next value.

        The series state (previous values, cooldown clocks) is kept when the
        rule still watches the same factor and was and stays enabled, so a
        threshold change applies to the very next value; otherwise the rule
        starts fresh.
        """
        with self._lock:
            entries = self._table.entries
            old = entries.get(rule.id)
            if old is None:
                raise NotFoundError(f"no signal rule with id {rule.id!r}; add it first")
            keep = old.rule.factor == rule.factor and old.rule.enabled and rule.enabled
            new = dict(entries)
            new[rule.id] = _Entry(rule, old.series if keep else {})
            self._table = _Table(new)

    def remove_rule(self, rule_id: str) -> SignalRule:
        """Remove a rule and its state; returns the removed rule."""
        with self._lock:
            entries = self._table.entries
            old = entries.get(rule_id)
            if old is None:
                raise NotFoundError(f"no signal rule with id {rule_id!r}")
            self._table = _Table({k: v for k, v in entries.items() if k != rule_id})
            return old.rule

    # -- the stream path (one thread) ---------------------------------------

    def snapshot(self, symbols: Collection[str] | None = None) -> list[list[Any]]:
        """Series state (previous value, last signal time) of ``symbols``, JSON-ready.

        With :meth:`restore` a worker checkpoints it with its bars, so a
        crossing that spans a failover fires once, not never or twice.
        """
        return [
            [rule_id, symbol, interval, state.prev, state.last_ts]
            for rule_id, entry in self._table.entries.items()
            for (symbol, interval), state in entry.series.items()
            if symbols is None or symbol in symbols
        ]

    def restore(self, snapshot: Sequence[Sequence[Any]]) -> None:
        """Put :meth:`snapshot` rows back (rules that no longer exist are skipped)."""
        entries = self._table.entries
        for rule_id, symbol, interval, prev, last_ts in snapshot:
            entry = entries.get(rule_id)
            if entry is None:
                continue
            state = _Series(float(prev))
            state.last_ts = None if last_ts is None else int(last_ts)
            entry.series[(symbol, interval)] = state

    def on_factor(self, fv: FactorValue) -> list[Signal]:
        group = self._table.by_factor.get(fv.name)
        if group is None:
            return []
        value = fv.value
        if not -math.inf < value < math.inf:  # NaN fails too
            return []
        symbol = fv.symbol
        key = (symbol, fv.interval)
        out: list[Signal] = []
        for entry in group:
            rule = entry.rule
            if rule.symbol is not None and rule.symbol != symbol and rule.symbol != "*":
                continue
            if rule.interval is not None and rule.interval != fv.interval:
                continue
            state = entry.series.get(key)
            if state is None:
                entry.series[key] = _Series(value)
                continue
            prev = state.prev
            state.prev = value
            side = _crossing(rule, prev, value)
            if side is None:
                continue
            last = state.last_ts
            if last is not None and rule.cooldown_ms and fv.ts - last < rule.cooldown_ms:
                continue
            state.last_ts = fv.ts
            out.append(Signal(symbol, fv.ts, fv.name, value, side, rule.id))
        return out


def _crossing(rule: SignalRule, prev: float, value: float) -> str | None:
    if rule.buy_above is not None and prev <= rule.buy_above < value:
        return "buy"
    if rule.sell_below is not None and prev >= rule.sell_below > value:
        return "sell"
    if rule.buy_below is not None and prev >= rule.buy_below > value:
        return "buy"
    if rule.sell_above is not None and prev <= rule.sell_above < value:
        return "sell"
    return None


def merge_rules(
    config: Sequence[Mapping[str, Any]], stored: Mapping[str, dict[str, Any] | None]
) -> list[SignalRule]:
    """Config rules overlaid with the stored ``signal_rules`` rows.

    A stored rule replaces the config rule with its id or adds one; a stored
    tombstone (``None``) removes it, so a deleted default stays deleted.
    """
    rules = {r.id: r for r in rules_from_config(config)}
    for rule_id, data in stored.items():
        if data is None:
            rules.pop(rule_id, None)
            continue
        try:
            rules[rule_id] = rules_from_config([{**data, "id": rule_id}])[0]
        except ConfigError as exc:  # a row from an older version: skip it, say so
            log.warning("ignoring stored signal rule %r: %s", rule_id, exc)
    return list(rules.values())
