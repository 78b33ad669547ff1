"""Signal rules changed at run time: the live engine plus their persistence.

Decision: the ``signal_rules`` table wins over the config. At start the
configured rules (``QUANTDESK_SIGNAL_RULES`` / TOML, default seed A's OBI and
RSI rules) are laid under the stored rows: a stored rule replaces the config
rule with its id or adds a new one, and a stored tombstone removes it, so a
deleted default stays deleted. Every API change is applied to the live
:class:`~quantdesk.stream.signals.SignalEngine` (the running processor's,
when the API runs inside ``quantdesk run``) and written to the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from quantdesk.errors import NotFoundError
from quantdesk.storage.audit import audit
from quantdesk.storage.base import Store
from quantdesk.stream.signals import SignalEngine, SignalRule, merge_rules

log = logging.getLogger("quantdesk.api")


class RuleBook:
    """The rule CRUD behind ``/api/signal-rules``."""

    def __init__(
        self,
        store: Store,
        config: Sequence[Mapping[str, Any]],
        engine: Any = None,
        *,
        audit_log: Any = None,
    ):
        self.store = store
        #: where changes are audited (quantdesk.storage.audit.audit's target; default the store)
        self.audit_log = audit_log if audit_log is not None else store
        wanted = merge_rules(config, store.load_signal_rules())
        if engine is None:
            engine = SignalEngine(wanted)
        else:  # the runtime built it from the config: bring it to the stored state
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
        self.engine: SignalEngine = engine

    def list(self) -> list[SignalRule]:
        return list(self.engine.rules())

    def get(self, rule_id: str) -> SignalRule:
        return self.engine.get_rule(rule_id)

    def exists(self, rule_id: str) -> bool:
        try:
            self.engine.get_rule(rule_id)
        except NotFoundError:
            return False
        return True

    def add(
        self, rule: SignalRule, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        self.engine.add_rule(rule)
        self.store.save_signal_rule(rule.id, rule.to_dict())
        self._audit("signal_rule.create", user, client, rule.id, rule.to_dict(), detail)
        return rule

    def update(
        self, rule: SignalRule, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        self.engine.update_rule(rule)
        self.store.save_signal_rule(rule.id, rule.to_dict())
        self._audit("signal_rule.update", user, client, rule.id, rule.to_dict(), detail)
        return rule

    def remove(
        self, rule_id: str, user: str, client: str = "", detail: Mapping[str, Any] | None = None
    ) -> SignalRule:
        old = self.engine.remove_rule(rule_id)
        self.store.save_signal_rule(rule_id, None)
        self._audit("signal_rule.delete", user, client, rule_id, None, detail)
        return old

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
