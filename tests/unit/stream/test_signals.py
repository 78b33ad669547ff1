"""Signal rules: crossings, cooldown, filters, run-time changes and config loading."""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.domain.messages import FactorValue, Signal
from quantdesk.errors import ConfigError, NotFoundError
from quantdesk.stream.signals import RULE_KEYS, SignalEngine, SignalRule, rules_from_config

OBI_RULE = SignalRule(id="obi-0.6", factor="obi", buy_above=0.6, sell_below=-0.6)


def fv(
    value: float, ts: int = 0, symbol: str = "AAA", name: str = "obi", interval: str = ""
) -> FactorValue:
    return FactorValue(symbol=symbol, ts=ts, name=name, value=value, interval=interval)


def run(engine: SignalEngine, values: list[float], **kwargs: Any) -> list[Signal]:
    """Feed ``values`` one second apart; ``kwargs`` go to :func:`fv`."""
    out: list[Signal] = []
    for i, v in enumerate(values):
        out.extend(engine.on_factor(fv(v, ts=i * 1000, **kwargs)))
    return out


def sides(signals: list[Signal]) -> list[str]:
    return [s.side for s in signals]


# -- crossings -----------------------------------------------------------------


def test_first_observation_only_records_the_value() -> None:
    engine = SignalEngine([OBI_RULE])
    assert engine.on_factor(fv(0.9)) == []  # already above: not a crossing
    assert engine.on_factor(fv(0.95, ts=1)) == []


def test_each_crossing_emits_exactly_once_with_all_fields() -> None:
    engine = SignalEngine([OBI_RULE])
    assert engine.on_factor(fv(0.1, ts=10)) == []
    assert engine.on_factor(fv(0.7, ts=20)) == [
        Signal(symbol="AAA", ts=20, factor="obi", value=0.7, side="buy", rule_id="obi-0.6")
    ]
    assert engine.on_factor(fv(0.8, ts=30)) == []  # still above: no second buy
    assert engine.on_factor(fv(0.0, ts=40)) == []
    assert engine.on_factor(fv(-0.7, ts=50)) == [
        Signal(symbol="AAA", ts=50, factor="obi", value=-0.7, side="sell", rule_id="obi-0.6")
    ]
    assert engine.on_factor(fv(-0.9, ts=60)) == []
    assert sides(engine.on_factor(fv(0.9, ts=70))) == ["buy"]  # one jump, one buy


def test_threshold_equality_is_not_above() -> None:
    engine = SignalEngine([OBI_RULE])
    assert run(engine, [0.5, 0.6]) == []  # reaching 0.6 is not crossing above
    assert sides(engine.on_factor(fv(0.61, ts=5000))) == ["buy"]  # from == 0.6 counts


def test_zero_line_rule_with_equal_thresholds() -> None:
    engine = SignalEngine(
        [SignalRule(id="macd0", factor="macd_hist", buy_above=0.0, sell_below=0.0)]
    )
    got = run(engine, [-1.0, 1.0, 0.0, -1.0, 0.0, 2.0], name="macd_hist")
    assert sides(got) == ["buy", "sell", "buy"]


def test_mirror_form_for_oscillators() -> None:
    rule = SignalRule(id="rsi", factor="rsi_14", buy_below=30.0, sell_above=70.0)
    engine = SignalEngine([rule])
    got = run(engine, [50.0, 29.0, 25.0, 40.0, 71.0, 80.0, 60.0], name="rsi_14")
    assert [(s.side, s.value) for s in got] == [("buy", 29.0), ("sell", 71.0)]


def test_other_factors_and_non_finite_values_are_ignored() -> None:
    engine = SignalEngine([OBI_RULE])
    assert run(engine, [0.0, 0.9], name="microprice") == []
    engine.on_factor(fv(0.0))
    assert engine.on_factor(fv(math.nan, ts=1)) == []
    assert engine.on_factor(fv(math.inf, ts=2)) == []
    assert sides(engine.on_factor(fv(0.7, ts=3))) == ["buy"]  # prev is still 0.0


def test_disabled_rule_emits_nothing() -> None:
    engine = SignalEngine([SignalRule(id="off", factor="obi", buy_above=0.6, enabled=False)])
    assert run(engine, [0.0, 0.9, 0.0, 0.9]) == []


# -- cooldown ------------------------------------------------------------------


def test_cooldown_suppresses_then_allows() -> None:
    rule = SignalRule(id="cd", factor="obi", buy_above=0.6, sell_below=-0.6, cooldown_ms=1000)
    engine = SignalEngine([rule])
    engine.on_factor(fv(0.0, ts=0))
    assert sides(engine.on_factor(fv(0.7, ts=100))) == ["buy"]
    assert engine.on_factor(fv(-0.7, ts=600)) == []  # sell inside the cooldown: dropped
    assert engine.on_factor(fv(0.7, ts=1099)) == []  # buy inside the cooldown: dropped
    engine.on_factor(fv(0.0, ts=1100))
    assert sides(engine.on_factor(fv(0.7, ts=1100))) == ["buy"]  # exactly cooldown_ms later


def test_cooldown_drops_rather_than_defers() -> None:
    rule = SignalRule(id="cd", factor="obi", buy_above=0.6, cooldown_ms=1000)
    engine = SignalEngine([rule])
    engine.on_factor(fv(0.0, ts=0))
    assert engine.on_factor(fv(0.7, ts=1)) != []
    engine.on_factor(fv(0.0, ts=2))
    assert engine.on_factor(fv(0.7, ts=3)) == []
    # Cooldown over, but the value stays above: no crossing, no late signal.
    assert engine.on_factor(fv(0.8, ts=5000)) == []


def test_cooldown_is_per_symbol() -> None:
    rule = SignalRule(id="cd", factor="obi", buy_above=0.6, cooldown_ms=10_000)
    engine = SignalEngine([rule])
    for sym in ("AAA", "BBB"):
        engine.on_factor(fv(0.0, ts=0, symbol=sym))
    assert len(engine.on_factor(fv(0.9, ts=1, symbol="AAA"))) == 1
    assert len(engine.on_factor(fv(0.9, ts=2, symbol="BBB"))) == 1


# -- filters -------------------------------------------------------------------


def test_symbol_filter() -> None:
    only = SignalRule(id="only", factor="obi", symbol="AAA", buy_above=0.6)
    star = SignalRule(id="star", factor="obi", symbol="*", buy_above=0.6)
    anyone = SignalRule(id="any", factor="obi", buy_above=0.6)
    engine = SignalEngine([only, star, anyone])
    assert star.all_symbols and anyone.all_symbols and not only.all_symbols
    assert sorted(s.rule_id for s in run(engine, [0.0, 0.9], symbol="BBB")) == ["any", "star"]
    got = run(engine, [0.0, 0.9], symbol="AAA")
    assert sorted(s.rule_id for s in got) == ["any", "only", "star"]
    assert {s.symbol for s in got} == {"AAA"}


def test_each_symbol_is_its_own_series() -> None:
    engine = SignalEngine([OBI_RULE])
    engine.on_factor(fv(0.0, ts=0, symbol="AAA"))
    # BBB's first value is a first observation, whatever AAA did before.
    assert engine.on_factor(fv(0.9, ts=1, symbol="BBB")) == []
    assert sides(engine.on_factor(fv(0.9, ts=2, symbol="AAA"))) == ["buy"]


def test_intervals_are_separate_series_and_can_be_filtered() -> None:
    every = SignalRule(id="every", factor="rsi_14", buy_below=30.0)
    five = SignalRule(id="5m", factor="rsi_14", buy_below=30.0, interval="5m")
    engine = SignalEngine([every, five])
    engine.on_factor(fv(50.0, ts=0, name="rsi_14", interval="1m"))
    engine.on_factor(fv(20.0, ts=0, name="rsi_14", interval="5m"))
    # 1m falls below 30: only the all-interval rule sees 1m.
    got = engine.on_factor(fv(25.0, ts=60_000, name="rsi_14", interval="1m"))
    assert [s.rule_id for s in got] == ["every"]
    # 5m 20 -> 40 -> 25 crosses below 30 again: both rules.
    engine.on_factor(fv(40.0, ts=300_000, name="rsi_14", interval="5m"))
    got = engine.on_factor(fv(25.0, ts=600_000, name="rsi_14", interval="5m"))
    assert sorted(s.rule_id for s in got) == ["5m", "every"]


# -- run-time rule changes -----------------------------------------------------


def test_add_rule_takes_effect_on_the_next_value() -> None:
    engine = SignalEngine()
    assert engine.on_factor(fv(0.0, ts=0)) == []
    engine.add_rule(OBI_RULE)
    assert engine.rules() == [OBI_RULE]
    engine.on_factor(fv(0.0, ts=1))  # first observation for the new rule
    assert sides(engine.on_factor(fv(0.9, ts=2))) == ["buy"]
    with pytest.raises(ConfigError, match="already exists"):
        engine.add_rule(OBI_RULE)


def test_update_rule_thresholds_apply_to_the_next_value() -> None:
    engine = SignalEngine([OBI_RULE])
    engine.on_factor(fv(0.3, ts=0))
    engine.update_rule(SignalRule(id="obi-0.6", factor="obi", buy_above=0.4))
    assert engine.get_rule("obi-0.6").buy_above == 0.4
    assert sides(engine.on_factor(fv(0.5, ts=1))) == ["buy"]  # 0.3 -> 0.5 crosses 0.4


def test_update_rule_to_another_factor_starts_fresh() -> None:
    engine = SignalEngine([OBI_RULE])
    engine.on_factor(fv(0.0, ts=0))
    engine.update_rule(SignalRule(id="obi-0.6", factor="obi_weighted", buy_above=0.6))
    assert engine.on_factor(fv(0.9, ts=1, name="obi_weighted")) == []  # first observation
    assert engine.on_factor(fv(0.9, ts=2)) == []  # no longer watches obi


def test_re_enabled_rule_starts_fresh() -> None:
    engine = SignalEngine([OBI_RULE])
    engine.on_factor(fv(0.0, ts=0))
    engine.update_rule(SignalRule(id="obi-0.6", factor="obi", buy_above=0.6, enabled=False))
    engine.on_factor(fv(0.9, ts=1))
    engine.update_rule(OBI_RULE)
    assert engine.on_factor(fv(0.95, ts=2)) == []  # no stale crossing from before disabling


def test_remove_rule_stops_its_signals() -> None:
    other = SignalRule(id="other", factor="obi", buy_above=0.5)
    engine = SignalEngine([OBI_RULE, other])
    engine.on_factor(fv(0.0, ts=0))
    assert engine.remove_rule("obi-0.6") == OBI_RULE
    assert engine.rules() == [other]
    assert [s.rule_id for s in engine.on_factor(fv(0.9, ts=1))] == ["other"]


def test_unknown_and_duplicate_ids() -> None:
    engine = SignalEngine([OBI_RULE])
    with pytest.raises(NotFoundError):
        engine.update_rule(SignalRule(id="nope", factor="obi", buy_above=1.0))
    with pytest.raises(NotFoundError):
        engine.remove_rule("nope")
    with pytest.raises(NotFoundError):
        engine.get_rule("nope")
    with pytest.raises(ConfigError, match="duplicate"):
        SignalEngine([OBI_RULE, OBI_RULE])


def test_rules_can_change_from_another_thread_while_evaluating() -> None:
    engine = SignalEngine([OBI_RULE])
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            n = 0
            while not stop.is_set():
                extra = SignalRule(id=f"r{n % 7}", factor="obi", buy_above=0.1 * (n % 5))
                engine.add_rule(extra)
                engine.update_rule(
                    SignalRule(id="obi-0.6", factor="obi", buy_above=0.5 + 0.01 * (n % 3))
                )
                engine.remove_rule(extra.id)
                n += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for i in range(20_000):
            for s in engine.on_factor(fv(0.9 if i % 2 else -0.9, ts=i)):
                assert s.side in ("buy", "sell")
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert [r.id for r in engine.rules()] == ["obi-0.6"]


# -- properties ----------------------------------------------------------------

# A small value grid hits the thresholds exactly, the edge cases of a crossing.
values = st.lists(st.sampled_from([-1.0, -0.6, -0.3, 0.0, 0.3, 0.6, 0.61, 1.0]), max_size=60)


@given(values)
def test_buys_and_sells_equal_independently_counted_crossings(series: list[float]) -> None:
    engine = SignalEngine([OBI_RULE])
    got = run(engine, series)
    pairs = list(itertools.pairwise(series))
    ups = sum(1 for a, b in pairs if a <= 0.6 < b)
    downs = sum(1 for a, b in pairs if a >= -0.6 > b)
    assert sides(got).count("buy") == ups
    assert sides(got).count("sell") == downs


@given(st.lists(st.floats(min_value=-1, max_value=1), max_size=60), st.floats(-1, 1))
def test_buy_count_equals_upward_crossings_any_threshold(series: list[float], x: float) -> None:
    engine = SignalEngine([SignalRule(id="x", factor="obi", buy_above=x)])
    got = run(engine, series)
    assert len(got) == sum(1 for a, b in itertools.pairwise(series) if a <= x < b)


@settings(max_examples=50)
@given(
    values,
    st.lists(st.integers(min_value=0, max_value=3000), max_size=60),
    st.integers(min_value=1, max_value=5000),
)
def test_cooldown_spaces_signals_and_only_drops_crossings(
    series: list[float], gaps: list[int], cooldown: int
) -> None:
    rule = SignalRule(id="cd", factor="obi", buy_above=0.6, sell_below=-0.6, cooldown_ms=cooldown)
    free = SignalEngine([SignalRule(id="cd", factor="obi", buy_above=0.6, sell_below=-0.6)])
    cooled = SignalEngine([rule])
    ts = 0
    all_signals: list[Signal] = []
    kept: list[Signal] = []
    for v, gap in zip(series, gaps, strict=False):
        ts += gap
        all_signals += free.on_factor(fv(v, ts=ts))
        kept += cooled.on_factor(fv(v, ts=ts))
    assert set(kept) <= set(all_signals)
    assert all(b.ts - a.ts >= cooldown for a, b in itertools.pairwise(kept))


# -- config --------------------------------------------------------------------


def test_rules_from_config_builds_rules() -> None:
    rules = rules_from_config(
        [
            {"id": "obi", "factor": "obi", "buy_above": 0.6, "sell_below": -0.6},
            {
                "id": "rsi",
                "factor": "rsi_14",
                "symbol": "AAPL",
                "buy_below": 30,
                "sell_above": 70,
                "cooldown_ms": 60_000,
                "interval": "5m",
                "enabled": False,
            },
        ]
    )
    assert rules[0] == SignalRule(id="obi", factor="obi", buy_above=0.6, sell_below=-0.6)
    assert rules[1].symbol == "AAPL" and rules[1].cooldown_ms == 60_000 and not rules[1].enabled
    assert rules_from_config([r.to_dict() for r in rules]) == rules
    assert set(rules[0].to_dict()) == set(RULE_KEYS)
    assert rules_from_config([]) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([{"id": "a", "factor": "obi", "buy_abov": 0.6}], "unknown key 'buy_abov'"),
        ([{"factor": "obi", "buy_above": 0.6}], "missing required key 'id'"),
        ([{"id": "a", "buy_above": 0.6}], "missing required key 'factor'"),
        ([{"id": "", "factor": "obi", "buy_above": 0.6}], "id must be 1-64 letters"),
        ([{"id": "a", "factor": "", "buy_above": 0.6}], "factor must be"),
        ([{"id": "a", "factor": "obi"}], "at least one threshold"),
        ([{"id": "a", "factor": "obi", "buy_above": math.nan}], "finite"),
        ([{"id": "a", "factor": "obi", "sell_below": -math.inf}], "finite"),
        ([{"id": "a", "factor": "obi", "buy_above": "0.6"}], "must be a number"),
        ([{"id": "a", "factor": "obi", "buy_above": True}], "must be a number"),
        (
            [{"id": "a", "factor": "obi", "buy_above": -0.6, "sell_below": 0.6}],
            "buy_above must be >=",
        ),
        (
            [{"id": "a", "factor": "rsi", "buy_below": 70, "sell_above": 30}],
            "sell_above must be >=",
        ),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6, "buy_below": 0.1}], "not both forms"),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6, "cooldown_ms": -1}], "cooldown_ms"),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6, "cooldown_ms": 1.5}], "cooldown_ms"),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6, "enabled": "yes"}], "enabled"),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6, "symbol": 5}], "symbol"),
        ([{"id": "a", "factor": "obi", "buy_above": 0.6}] * 2, "duplicate id 'a'"),
        ({"id": "a"}, "must be a list"),
        (["a"], "must be a table"),
    ],
)
def test_bad_rules_are_one_line_config_errors(data: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        rules_from_config(data)
    assert "\n" not in str(info.value)


def test_rule_constructor_validates_too() -> None:
    with pytest.raises(ConfigError, match="finite"):
        SignalRule(id="a", factor="obi", buy_above=math.inf)


def test_snapshot_restore_keeps_crossings_exact() -> None:
    import json

    rule = SignalRule(id="r", factor="obi", buy_above=0.6, sell_below=-0.6, cooldown_ms=5)
    values = [0.0, 0.7, 0.1, 0.8, -0.7, 0.9, 0.2, 0.95]
    whole = SignalEngine([rule])
    expected = [
        s for i, v in enumerate(values) for s in whole.on_factor(FactorValue("A", i * 10, "obi", v))
    ]
    first = SignalEngine([rule])
    got = [
        s
        for i, v in enumerate(values[:3])
        for s in first.on_factor(FactorValue("A", i * 10, "obi", v))
    ]
    state = json.loads(json.dumps(first.snapshot({"A"})))
    second = SignalEngine([rule])
    second.restore(state)
    got += [
        s
        for i, v in enumerate(values[3:], start=3)
        for s in second.on_factor(FactorValue("A", i * 10, "obi", v))
    ]
    assert got == expected and len(expected) >= 3
    assert first.snapshot({"B"}) == []
