"""Control messages: live configuration changes that reach every processing member.

When an operator creates, changes or deletes a signal rule through the API
(:mod:`quantdesk.api.rules`), the API stores it and publishes a
:class:`~quantdesk.bus.codec.Control` message on the ``control`` topic
(``target="signal_rule"``, ``action`` ``upsert`` with the rule as ``body``, or
``delete``). Every processing member (``quantdesk run``'s runtime, every
``quantdesk worker``) reads that topic with a tail reader (every partition, in
no group, so each member sees every change) and applies each change to its
:class:`~quantdesk.stream.signals.SignalEngine` before its next batch: within
the poll interval (0.2 s for a worker, 0.25 s for ``run``), well under a
second. No process reaches into another one's objects.

Start-up without a gap: :class:`ControlListener` opens its reader *first*
(its start offsets are fixed then), *then* brings the engine to the stored
rules (config overlaid by the ``signal_rules`` table). A change made while a
member starts is therefore in the store already, or read from the topic
afterwards, or both; applying a change twice is harmless (each is a full
upsert or a delete, and the changes of one rule stay in order on one
partition).

Other targets (risk limits, job schedules...) plug in with
``listener.handlers[target] = fn``; messages for a target nobody handles are
skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from quantdesk.bus import Bus, Control, MessageError, decode
from quantdesk.errors import ConfigError
from quantdesk.stream.signals import SignalEngine, SignalRule, rules_from_config

log = logging.getLogger("quantdesk.control")

SIGNAL_RULE = "signal_rule"


def rule_control(rule_id: str, rule: SignalRule | None, origin: str = "") -> Control:
    """The control message of a rule upsert (``rule``) or delete (``None``)."""
    if rule is None:
        return Control(SIGNAL_RULE, rule_id, "delete", None, int(time.time() * 1000), origin)
    return Control(SIGNAL_RULE, rule_id, "upsert", rule.to_dict(), int(time.time() * 1000), origin)


def sync_rules(engine: SignalEngine, wanted: list[SignalRule]) -> None:
    """Make ``engine``'s rules exactly ``wanted`` (unchanged rules keep their series)."""
    current = {r.id for r in engine.rules()}
    keep = {r.id for r in wanted}
    for rule_id in current - keep:
        engine.remove_rule(rule_id)
    for rule in wanted:
        if rule.id in current:
            if engine.get_rule(rule.id) != rule:
                engine.update_rule(rule)
        else:
            engine.add_rule(rule)


def apply_rule_change(engine: SignalEngine, control: Control) -> bool:
    """Apply one ``signal_rule`` control message; False if it changed nothing."""
    current = {r.id: r for r in engine.rules()}
    if control.action == "delete":
        if control.id not in current:
            return False
        engine.remove_rule(control.id)
        return True
    if control.action != "upsert" or control.body is None:
        raise ConfigError(f"signal_rule control: unknown action {control.action!r}")
    (rule,) = rules_from_config([{**control.body, "id": control.id}])
    old = current.get(rule.id)
    if old == rule:
        return False
    if old is None:
        engine.add_rule(rule)
    else:
        engine.update_rule(rule)
    return True


class ControlListener:
    """Reads the ``control`` topic and applies what it says (see the module docstring)."""

    def __init__(
        self,
        bus: Bus,
        engine: SignalEngine,
        load_rules: Callable[[], list[SignalRule]] | None = None,
        *,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.reader = bus.tail([bus.topics.control])
        self.engine = engine
        self.echo = echo
        self.applied = 0
        self.rejected = 0
        self.handlers: dict[str, Callable[[Control], bool]] = {
            SIGNAL_RULE: lambda c: apply_rule_change(self.engine, c)
        }
        if load_rules is not None:
            sync_rules(engine, load_rules())

    def poll(self, timeout: float = 0.0) -> int:
        """Apply every control message waiting; return how many changed something."""
        changed = 0
        while True:
            messages = self.reader.poll(100, timeout)
            if not messages:
                return changed
            timeout = 0.0
            for m in messages:
                changed += self._apply(m.value)

    def _apply(self, raw: bytes) -> bool:
        try:
            control = decode(raw)
        except MessageError as exc:
            self.rejected += 1
            log.warning("control: undecodable message skipped (%s)", exc)
            return False
        if not isinstance(control, Control):
            self.rejected += 1
            log.warning("control: a %s message on the control topic skipped", type(control))
            return False
        handler = self.handlers.get(control.target)
        if handler is None:
            log.debug("control: no handler for target %r", control.target)
            return False
        try:
            changed = handler(control)
        except ConfigError as exc:
            self.rejected += 1
            log.warning(
                "control: %s %s %r rejected: %s", control.target, control.action, control.id, exc
            )
            return False
        if changed:
            self.applied += 1
            text = (
                f"{control.target} {control.id!r}: {control.action} (from {control.origin or '?'})"
            )
            log.info("control: %s", text)
            if self.echo is not None:
                self.echo(text)
        return changed

    def close(self) -> None:
        self.reader.close()
