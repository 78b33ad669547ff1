"""Out-of-sample evaluation of the agents beside buy-and-hold, a random agent and ``t1``.

The data set's days are split once: the agents (and ``t1``'s model) train on
the first days, and every policy then trades the remaining days in the same
:class:`~.env.TradingEnv`, same rules and costs, each stock with an equal
share of the cash. Rows of the table:

==============  ===================================================================
``ppo``/``dqn``  the trained agents, acting deterministically
``buy_and_hold`` buy every stock at the first test close, hold to the end
``random``       uniform random actions (seeded)
``t1``           seed B's rule at daily granularity: hold the stock over the next
                 day iff the ``linear`` model (trained on the same first days)
                 predicts a gain, else sell (sells and buys at the open, as ``t1``)
==============  ===================================================================

Metrics: total return, annualised Sharpe of daily returns, maximum drawdown,
number of fills and fees as a fraction of the starting cash. Run it on the
random-walk control (:func:`~quantdesk.models.datasets.controls.control_dataset`):
there a policy that beats buy-and-hold by more than its costs is luck or a leak.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quantdesk.errors import ModelError
from quantdesk.models.base import model_class
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.rl.tape import F32, build_tape
from quantdesk.trading.market import rules_for

__all__ = [
    "POLICIES",
    "AgentReport",
    "agent_holdout",
    "beats_policies",
    "evaluate_agents",
    "format_agent_table",
]

#: The comparison policies every evaluation runs beside the agents.
POLICIES = ("buy_and_hold", "random", "t1")
AGENTS = ("ppo", "dqn")
#: policy(row, observation) -> action
Policy = Callable[[int, F32], int]


@dataclass
class AgentReport:
    """The table: policy name -> metrics; plus the split and the data's shape."""

    rows: dict[str, dict[str, Any]]
    train_days: tuple[str, str]
    test_days: tuple[str, str]
    symbols: list[str]
    control: str | None = None
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "policies": self.rows,
            "train_days": list(self.train_days),
            "test_days": list(self.test_days),
            "symbols": self.symbols,
            "control": self.control,
            "seed": self.seed,
        }


def _curve_metrics(
    curve: np.ndarray[Any, Any], trades: int, fees: float, cash: float
) -> dict[str, Any]:
    rets = np.diff(curve) / curve[:-1] if len(curve) > 1 else np.zeros(0)
    sd = float(rets.std(ddof=1)) if len(rets) > 1 else 0.0
    peak = np.maximum.accumulate(curve)
    return {
        "total_return": float(curve[-1] / cash - 1.0),
        "sharpe": float(rets.mean() / sd * math.sqrt(252)) if sd > 0 else 0.0,
        "max_drawdown": float(((curve - peak) / peak).min()) if len(curve) else 0.0,
        "trades": trades,
        "fees": fees / cash,
    }


def run_policies(
    test: Dataset,
    policies: Mapping[str, Policy],
    *,
    market: str = "cn",
    cash: float = 1_000_000.0,
    features: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Trade each policy over every stock of ``test`` (equal cash each); metrics per policy."""
    from quantdesk.models.rl.env import TradingEnv

    rules = rules_for(market)
    tape = build_tape(test, rules, tuple(features))
    n = len(tape.symbols)
    days = np.unique(tape.days)
    out: dict[str, dict[str, Any]] = {}
    for name, policy in policies.items():
        env = TradingEnv(tape, rules, cash=cash / n)
        total = np.zeros(len(days))
        trades, fees = 0, 0.0
        for k in range(n):
            a, b = tape.segment(k)
            if b - a < 2:
                total += cash / n
                continue
            obs, _ = env.reset(options={"segment": k})
            i, done = a, False
            while not done:
                obs, _r, done, _t, _ = env.step(policy(i, obs))
                i += 1
            # the stock's equity by day (cash before its first row, its last value after)
            pos = np.searchsorted(days, tape.days[a:b])
            curve = np.full(len(days), np.nan)
            curve[pos] = env.equity
            first = np.flatnonzero(~np.isnan(curve))[0]
            curve[:first] = cash / n
            for j in range(first + 1, len(curve)):
                if np.isnan(curve[j]):
                    curve[j] = curve[j - 1]
            total += curve
            trades += env.account.trades
            fees += env.account.fees / 100
        out[name] = _curve_metrics(total, trades, fees, cash)
    return out


def split_days(data: Dataset, test_fraction: float) -> np.datetime64:
    """The first test day: the last ``test_fraction`` of the labelled days are tested."""
    days = np.unique(data.days[data.selected])
    if len(days) < 10:
        raise ModelError(f"agent evaluation needs at least 10 days (got {len(days)})")
    if not 0.0 < test_fraction < 1.0:
        raise ModelError(f"test fraction must be between 0 and 1 (got {test_fraction})")
    return np.datetime64(days[int(len(days) * (1.0 - test_fraction))], "D")


def evaluate_agents(
    data: Dataset,
    names: Sequence[str] = AGENTS,
    *,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
    market: str = "cn",
    cash: float = 1_000_000.0,
    control: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> AgentReport:
    """Train ``names`` on the first days of ``data``, trade the rest beside :data:`POLICIES`."""
    cut = split_days(data, test_fraction)
    train = data.select(data.selected & (data.days < cut))
    test = data.select(data.selected & (data.days >= cut))
    policies: dict[str, Policy] = {}
    for name in names:
        cls = model_class(name)
        if cls.kind != "agent":
            raise ModelError(f"{name} is not a trading agent (agents: {', '.join(AGENTS)})")
        p = {"market": market, **dict((params or {}).get(name, {}))}
        agent: Any = cls(p, seed=seed)
        agent.fit(train, progress=(lambda d, t, n=name: progress(n, d, t)) if progress else None)
        policies[name] = _agent_policy(agent)
    policies["buy_and_hold"] = lambda _i, _o: 1
    rng = np.random.default_rng(seed)
    policies["random"] = lambda _i, _o: int(rng.integers(3))
    linear = model_class("linear")({}, seed=seed).fit(train)
    pred = linear.predict(test)[:, test.return_index]
    policies["t1"] = lambda i, _o: 1 if pred[i] > 0 else 2
    rows = run_policies(test, policies, market=market, cash=cash)
    tr, te = np.unique(train.days[train.selected]), np.unique(test.days[test.selected])
    return AgentReport(
        rows=rows,
        train_days=(_d(tr[0]), _d(tr[-1])),
        test_days=(_d(te[0]), _d(te[-1])),
        symbols=sorted(set(data.symbols[data.selected].tolist())),
        control=control,
        seed=seed,
    )


def _agent_policy(agent: Any) -> Policy:
    def act(_i: int, obs: F32) -> int:
        return int(agent.act(obs[None, :])[0])

    return act


def _d(day: np.datetime64) -> str:
    return str(day.astype("datetime64[D]").astype(dt.date))


def agent_holdout(
    name: str, params: Mapping[str, Any], data: Dataset, holdout_days: int, seed: int
) -> dict[str, Any]:
    """The training run's stored metrics for an agent: its last ``holdout_days`` traded
    beside the comparison policies after training on the days before."""
    days = np.unique(data.days[data.selected])
    if holdout_days <= 0 or len(days) <= holdout_days + 10:
        return {}
    report = evaluate_agents(
        data,
        [name],
        params={name: params},
        seed=seed,
        test_fraction=holdout_days / len(days),
        market=str(params.get("market", "cn")),
    )
    return {"holdout_days": holdout_days, "holdout_start": report.test_days[0], **report.rows}


def beats_policies(doc: Mapping[str, Any], name: str) -> tuple[bool, str]:
    """Whether agent ``name`` returned more than every comparison policy on the holdout."""
    if name not in doc:
        return False, "no holdout metrics (too few days)"
    mine = float(doc[name]["total_return"])
    for p in POLICIES:
        if p in doc and mine <= float(doc[p]["total_return"]):
            return False, f"holdout return not above {p}'s"
    return True, "returned more than every comparison policy on the holdout"


def format_agent_table(report: AgentReport) -> str:
    """The report as a plain-text table."""
    head = (
        f"train {report.train_days[0]}..{report.train_days[1]}, test"
        f" {report.test_days[0]}..{report.test_days[1]}, {len(report.symbols)} stocks"
        + (f", control {report.control}" if report.control else "")
    )
    lines = [head, f"{'policy':<14}{'return':>9}{'sharpe':>8}{'max dd':>9}{'fills':>7}{'fees':>8}"]
    for name, m in report.rows.items():
        lines.append(
            f"{name:<14}{100 * m['total_return']:>8.2f}%{m['sharpe']:>8.2f}"
            f"{100 * m['max_drawdown']:>8.2f}%{m['trades']:>7}{100 * m['fees']:>7.3f}%"
        )
    return "\n".join(lines)
