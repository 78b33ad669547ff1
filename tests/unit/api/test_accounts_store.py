"""users and signal_rules on both backends."""

from __future__ import annotations

from quantdesk.storage.base import Store


def test_users(store: Store) -> None:
    assert store.add_user("admin", "$argon2id$x", "admin") is True
    assert store.add_user("admin", "other", "guest") is False  # no overwrite
    store.add_user("guest", "$argon2id$y", "guest")
    user = store.get_user("admin")
    assert user is not None and user.role == "admin" and user.password_hash == "$argon2id$x"
    assert user.created_at > 1_700_000_000_000
    assert store.get_user("nobody") is None
    assert [u.username for u in store.list_users()] == ["admin", "guest"]


def test_signal_rules_and_tombstones(store: Store) -> None:
    rule = {"id": "r1", "factor": "obi", "buy_above": 0.6, "sell_below": None}
    store.save_signal_rule("r1", rule)
    store.save_signal_rule("obi", None)
    assert store.load_signal_rules() == {"r1": rule, "obi": None}
    store.save_signal_rule("r1", {**rule, "buy_above": 0.7})
    store.save_signal_rule("obi", {"id": "obi", "factor": "obi", "buy_above": 1.0})
    loaded = store.load_signal_rules()
    assert loaded["r1"]["buy_above"] == 0.7 and loaded["obi"] is not None


def test_set_password_hash(store: Store) -> None:
    store.add_user("admin", "$argon2id$old", "admin")
    assert store.set_password_hash("admin", "$argon2id$new") is True
    user = store.get_user("admin")
    assert user is not None and user.password_hash == "$argon2id$new" and user.role == "admin"
    assert store.set_password_hash("nobody", "$argon2id$z") is False
    assert store.get_user("nobody") is None
