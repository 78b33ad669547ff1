"""Signal rules changed at run time: stored, then sent to every processing member.

Decision: the ``signal_rules`` table wins over the config. The rules in force
are the configured ones (``QUANTDESK_SIGNAL_RULES`` / TOML, default seed A's
OBI and RSI rules) overlaid by the stored rows: a stored rule replaces the
config rule with its id or adds a new one, and a stored tombstone removes it,
so a deleted default stays deleted.

An API change is written to the table (so every API process and every
member that starts later sees it), then published as a control message on
the bus (:mod:`quantdesk.runtime.control`), which every running member (the
embedded runtime, each Kafka worker) applies to its signal engine within a
second. The API holds no engine of its own: what it lists is what is stored,
so any number of API processes agree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from quantdesk.bus import Bus
from quantdesk.errors import NotFoundError
from quantdesk.runtime.control import rule_control
from quantdesk.storage.audit import audit
from quantdesk.storage.base import Store
from quantdesk.stream.signals import SignalRule, merge_rules

log = logging.getLogger("quantdesk.api")


class RuleBook:
    """The rule CRUD behind ``/api/signal-rules``."""

    def __init__(
        self,
        store: Store,
        config: Sequence[Mapping[str, Any]],
        bus: Bus | None = None,
        *,
        audit_log: Any = None,
    ) -> None:
        self.store = store
        self.config = config
        self.bus = bus
        #: where changes are audited (quantdesk.storage.audit.audit's target; default the store)
        self.audit_log = audit_log if audit_log is not None else store
        merge_rules(config, store.load_signal_rules())  # a bad config fails here, at start

    def list(self) -> list[SignalRule]:
        return merge_rules(self.config, self.store.load_signal_rules())

    def get(self, rule_id: str) -> SignalRule:
        for rule in self.list():
            if rule.id == rule_id:
                return rule
        raise NotFoundError(f"no signal rule with id {rule_id!r}")

    def exists(self, rule_id: str) -> bool:
        return any(rule.id == rule_id for rule in self.list())

    def add(
        self, rule: SignalRule, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        self._save(rule.id, rule, user)
        self._audit("signal_rule.create", user, client, rule.id, rule.to_dict(), detail)
        return rule

    def update(
        self, rule: SignalRule, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        self._save(rule.id, rule, user)
        self._audit("signal_rule.update", user, client, rule.id, rule.to_dict(), detail)
        return rule

    def remove(
        self, rule_id: str, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        old = self.get(rule_id)
        self._save(rule_id, None, user)
        self._audit("signal_rule.delete", user, client, rule_id, None, detail)
        return old

    def _save(self, rule_id: str, rule: SignalRule | None, user: str) -> None:
        self.store.save_signal_rule(rule_id, None if rule is None else rule.to_dict())
        if self.bus is not None:
            self.bus.send(rule_control(rule_id, rule, origin=user))
            self.bus.flush(5.0)  # on its way before the API answers

    def _audit(
        self,
        action: str,
        user: str,
        client: str,
        rule_id: str,
        rule: dict[str, Any] | None,
        detail: Mapping[str, Any] | None,
    ) -> None:
        what: dict[str, Any] = {"id": rule_id, **(detail or {})}
        if rule is not None:
            what["rule"] = rule
        audit(self.audit_log, action, user=user, client=client, detail=what)
