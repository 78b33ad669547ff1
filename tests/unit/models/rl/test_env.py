"""The environment: gymnasium's checker, reward = change in equity net of costs."""

from __future__ import annotations

import numpy as np
from gymnasium.utils.env_checker import check_env

from quantdesk.models.datasets.base import Dataset
from quantdesk.models.rl.env import BUY, EXTRA, HOLD, SELL, TradingEnv
from quantdesk.models.rl.tape import build_tape
from quantdesk.trading.market import rules_for


def _env(walk: Dataset, **kw: float) -> TradingEnv:
    rules = rules_for("cn")
    return TradingEnv(build_tape(walk, rules), rules, **kw)  # type: ignore[arg-type]


def test_gymnasium_checker_accepts_it(walk: Dataset) -> None:
    check_env(_env(walk), skip_render_check=True)


def test_rewards_add_up_to_the_equity_change_net_of_fees(walk: Dataset) -> None:
    env = _env(walk, cash=500_000.0)
    obs, _ = env.reset(options={"segment": 1})
    assert obs.shape == (len(walk.features) + EXTRA,)
    rng = np.random.default_rng(0)
    total, done = 0.0, False
    while not done:
        obs, r, done, _t, _ = env.step(int(rng.integers(3)))
        total += r
    acc = env.account
    assert acc.trades > 0 and acc.fees > 0
    assert np.isclose(total, env.equity[-1] / 500_000.0 - 1.0, atol=1e-12)
    # the fees are in the equity: buying then selling at the same price loses exactly them
    a, b = env.tape.segment(1)
    assert len(env.equity) == b - a


def test_position_state_is_observed(walk: Dataset) -> None:
    env = _env(walk)
    k = len(walk.features)
    obs, _ = env.reset(options={"segment": 0})
    assert obs[k] == 0.0
    obs, *_ = env.step(BUY)
    assert obs[k] == 1.0 and obs[k + 1] == 1.0  # bought at today's open: sellable tomorrow
    obs, *_ = env.step(HOLD)
    assert obs[k] == 1.0
    obs, *_ = env.step(SELL)
    assert obs[k] == 0.0 and env.account.trades == 2


def test_episodes_are_drawn_with_the_seed(walk: Dataset) -> None:
    a, b = _env(walk, episode_days=10), _env(walk, episode_days=10)
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    assert np.array_equal(oa, ob) and a._i == b._i and a._end - a._i == 10
