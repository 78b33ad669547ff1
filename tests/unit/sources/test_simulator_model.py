"""Statistical checks of the market model: drift, volatility, regimes, correlation, volume."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from quantdesk.calendars import ExchangeCalendar
from quantdesk.sources.simulator import REGIMES, TRANSITIONS, SimulatorParams, generate_history
from quantdesk.sources.simulator.history import run_blocks, year_fraction
from quantdesk.sources.simulator.model import Block, intraday_profile, regime_schedule
from tests.unit.sources.conftest import make_universe, wide, year_2023

QUIET: dict[str, Any] = {
    "market_correlation": 0.0,
    "sector_correlation": 0.0,
    "gap_rate": 0.0,
    "jump_rate": 0.0,
}


def test_dt_is_one_minute_in_years(xshg: ExchangeCalendar, xnys: ExchangeCalendar) -> None:
    params = SimulatorParams()
    assert year_fraction(xshg, params) == pytest.approx(1 / (252 * 240))
    assert year_fraction(xnys, params) == pytest.approx(1 / (252 * 390))


@pytest.mark.parametrize(
    ("regime", "market"), [("bull", "cn"), ("sideways", "cn"), ("bear", "cn"), ("bull", "us")]
)
def test_log_returns_have_the_configured_drift_and_volatility(
    regime: str, market: str, xshg: ExchangeCalendar, xnys: ExchangeCalendar
) -> None:
    cal = xshg if market == "cn" else xnys
    params = SimulatorParams(regime_switching=False, initial_regime=regime, **QUIET)
    base_vol, n_sym = 0.05, 40
    universe = make_universe(n_sym, market=market, volatility=base_vol)
    df, _ = generate_history(universe, cal, year_2023(cal), seed=11, params=params)
    close = wide(df, "close")
    log_p = np.log(np.vstack([np.full(n_sym, 10_000.0), close]))
    r = np.diff(log_p, axis=0)
    dt = year_fraction(cal, params)
    k = REGIMES.index(regime)
    sigma = base_vol * params.regime_vol[k]
    mu = params.regime_drift[k]
    # volatility: sample standard deviation, annualised with dt in years
    assert r.std() / math.sqrt(dt) == pytest.approx(sigma, rel=0.02)
    # drift of log prices: mu - sigma^2 / 2 per year; standard error sigma / sqrt(stock-years)
    years = r.shape[0] * dt
    est = r.sum(axis=0).mean() / years
    se = sigma / math.sqrt(n_sym * years)
    assert abs(est - (mu - sigma**2 / 2)) < 4 * se


@dataclass
class Run:
    """Arrays collected from a year of blocks with regime switching on."""

    returns: list[np.ndarray] = field(default_factory=list)
    regimes: list[np.ndarray] = field(default_factory=list)
    before: list[np.ndarray] = field(default_factory=list)
    after: list[np.ndarray] = field(default_factory=list)
    checks: list[list[int]] = field(default_factory=list)
    offset: int = 0

    def add(self, block: Block) -> None:
        self.returns.append(block.log_close - block.log_open)
        self.regimes.append(block.schedule.per_minute)
        sched = block.schedule
        done = sched.done(len(block.minutes))
        self.before.append(sched.before[done])
        self.after.append(sched.after[done])
        if not self.checks:
            self.checks = [[] for _ in range(len(done))]
        for s, row in enumerate(sched.pos):
            self.checks[s].extend((row[done[s]] + self.offset).tolist())
        self.offset += len(block.minutes)


@pytest.fixture(scope="module")
def switching_run(xshg: ExchangeCalendar) -> Run:
    run = Run()
    universe = make_universe(60, volatility=0.2)
    run_blocks(universe, xshg, year_2023(xshg), 5, None, SimulatorParams(**QUIET), run.add)
    return run


def test_regime_mixture_variance(switching_run: Run, xshg: ExchangeCalendar) -> None:
    params = SimulatorParams(**QUIET)
    r = np.concatenate(switching_run.returns)
    reg = np.concatenate(switching_run.regimes)
    dt = year_fraction(xshg, params)
    mult = np.asarray(params.regime_vol)
    realised = float((r**2).mean()) / dt
    # against the regimes the run actually visited (tight) ...
    expected = float(((0.2 * mult[reg]) ** 2).mean())
    assert realised == pytest.approx(expected, rel=0.01)
    # ... and against the stationary distribution of the transition matrix (loose)
    p = np.asarray(TRANSITIONS)
    w, v = np.linalg.eig(p.T)
    pi = np.real(v[:, np.argmin(abs(w - 1))])
    pi /= pi.sum()
    assert realised == pytest.approx(0.2**2 * float(pi @ mult**2), rel=0.08)
    occupancy = np.bincount(reg.ravel(), minlength=3) / reg.size
    np.testing.assert_allclose(occupancy, pi, atol=0.05)


def test_regime_transitions_follow_the_matrix(switching_run: Run) -> None:
    before = np.concatenate(switching_run.before)
    after = np.concatenate(switching_run.after)
    counts = np.zeros((3, 3))
    np.add.at(counts, (before, after), 1)
    assert counts.sum() > 40_000
    for i, row in enumerate(TRANSITIONS):
        observed = counts[i]
        expected = observed.sum() * np.asarray(row)
        chi2 = stats.chisquare(observed, expected)
        assert chi2.pvalue > 0.001, (REGIMES[i], observed / observed.sum(), row)


def test_regime_checks_come_every_30_to_120_minutes(switching_run: Run) -> None:
    gaps = np.concatenate([np.diff(c) for c in switching_run.checks])
    assert gaps.min() == 30
    assert gaps.max() == 120
    assert gaps.mean() == pytest.approx(75, abs=0.5)
    assert np.bincount(gaps)[30:].min() > 0.5 * len(gaps) / 91  # every length 30..120 occurs


def test_regime_switching_off_keeps_the_regime() -> None:
    params = SimulatorParams(regime_switching=False)
    rng = np.random.default_rng(1)
    sched = regime_schedule(rng, np.array([0, 1, 2]), np.array([5, 50, 100]), 1000, params)
    assert (sched.per_minute == np.array([0, 1, 2])).all()


def test_regime_changes_take_effect_after_the_check() -> None:
    params = SimulatorParams(transitions=((0, 0, 1), (0, 0, 1), (1, 0, 0)))
    rng = np.random.default_rng(2)
    sched = regime_schedule(rng, np.array([0]), np.array([3]), 200, params)
    per = sched.per_minute[:, 0]
    assert (per[:3] == 0).all()  # minutes 0, 1, 2 run before the first check
    assert per[3] == 2
    nxt = int(sched.pos[0, 1])
    assert per[nxt] == 2 and per[nxt + 1] == 0


@pytest.mark.parametrize(("market_share", "sector_share"), [(0.5, 0.3), (0.2, 0.6), (0.0, 0.0)])
def test_stocks_move_together_by_market_and_sector(
    market_share: float, sector_share: float, xshg: ExchangeCalendar
) -> None:
    params = SimulatorParams(
        regime_switching=False,
        market_correlation=market_share,
        sector_correlation=sector_share,
        gap_rate=0.0,
        jump_rate=0.0,
    )
    universe = make_universe(4, sectors=2)  # sector0: S000, S002; sector1: S001, S003
    df, _ = generate_history(universe, xshg, year_2023(xshg)[:60], seed=3, params=params)
    r = np.diff(np.log(wide(df, "close")), axis=0)
    c = np.corrcoef(r.T)
    assert c[0, 2] == pytest.approx(market_share + sector_share, abs=0.03)
    assert c[1, 3] == pytest.approx(market_share + sector_share, abs=0.03)
    assert c[0, 1] == pytest.approx(market_share, abs=0.03)
    assert c[2, 3] == pytest.approx(market_share, abs=0.03)


def test_gap_and_jump_rates(xshg: ExchangeCalendar) -> None:
    params = SimulatorParams(
        regime_switching=False,
        market_correlation=0.0,
        sector_correlation=0.0,
        gap_rate=0.3,
        jump_rate=0.01,
    )
    universe = make_universe(40, volatility=0.01)
    days = year_2023(xshg)[:60]
    df, _ = generate_history(universe, xshg, days, seed=8, params=params)
    opens, close = wide(df, "open"), wide(df, "close")
    first = np.arange(0, len(opens), 240)
    # gaps: a day's first open differs from the previous close; never on the first day
    assert (opens[0] == 10_000.0).all()
    gapped = opens[first[1:]] != close[first[1:] - 1]
    n_days = gapped.size
    assert abs(gapped.mean() - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n_days)
    # jumps: minute returns far beyond the diffusion (|r| > 0.2 % vs sd 0.004 %)
    r = np.log(close / opens)
    big = np.abs(r) > 0.002
    p = 0.01 * 2 * stats.norm.sf(0.002 / 0.01)
    assert abs(big.mean() - p) < 4 * math.sqrt(p * (1 - p) / big.size)


def test_no_overnight_move_without_gap(xshg: ExchangeCalendar) -> None:
    params = SimulatorParams(gap_rate=0.0)
    df, _ = generate_history(make_universe(5), xshg, year_2023(xshg)[:5], seed=1, params=params)
    opens, close = wide(df, "open"), wide(df, "close")
    assert (opens[1:] == close[:-1]).all()


def test_volume_profile_and_bear_factor(xshg: ExchangeCalendar) -> None:
    flat: dict[str, Any] = {
        "regime_switching": False,
        "volume_change_factor": 0.0,
        "volume_noise": (1.0, 1.0),
        "volume_floor": 0.0,
    }
    universe = make_universe(3, base_volume=1e7)
    days = year_2023(xshg)[:2]
    bull, _ = generate_history(
        universe, xshg, days, 4, params=SimulatorParams(initial_regime="bull", **flat)
    )
    bear, _ = generate_history(
        universe, xshg, days, 4, params=SimulatorParams(initial_regime="bear", **flat)
    )
    vol = wide(bull, "volume")[:240, 0]
    profile = intraday_profile(np.arange(240) / 239, 2.0)
    np.testing.assert_allclose(vol, np.rint(1e7 * profile / 100) * 100)
    assert vol[0] > 2.5 * vol[120] and vol[-1] > 2.5 * vol[120]
    assert profile.mean() == pytest.approx(1.0, abs=0.01)
    ratio = wide(bear, "volume") / wide(bull, "volume")
    np.testing.assert_allclose(ratio, 1.3, rtol=1e-4)


def test_volume_follows_seed_d_rule(xshg: ExchangeCalendar) -> None:
    # base * (1 + |change %| * 10), change in percent units, before noise/profile/floor
    params = SimulatorParams(
        regime_switching=False,
        volume_noise=(1.0, 1.0),
        volume_floor=0.0,
        intraday_u=0.0,
        jump_rate=0.01,
    )
    blocks: list[Block] = []
    universe = make_universe(5, base_volume=1e6, volatility=0.3)
    run_blocks(universe, xshg, year_2023(xshg)[:3], 9, None, params, blocks.append)
    for b in blocks:
        prev = np.vstack([b.start.log_price, b.log_close[:-1]])
        change_pct = np.abs(np.expm1(b.log_close - prev)) * 100
        np.testing.assert_allclose(b.volume, np.rint(1e6 * (1 + change_pct * 10) / 100) * 100)


def test_volume_floor_holds_even_when_the_noise_is_low(xshg: ExchangeCalendar) -> None:
    params = SimulatorParams(volume_noise=(0.01, 0.2))
    universe = make_universe(4, base_volume=12_345.0)
    tiny = replace(universe[0], symbol="TINY", base_volume=150.0)  # less than one lot
    df, _ = generate_history([*universe, tiny], xshg, year_2023(xshg)[:5], 2, params=params)
    vol = wide(df, "volume")
    assert (vol[:, :4] >= 0.3 * 12_345.0).all()
    assert (vol[:, 4] >= 100.0).all() and (vol[:, 4] == 100.0).mean() > 0.9  # floor 45 -> 1 lot
    assert (vol % 100 == 0).all()
    assert (vol[:, :4] == 3_800.0).mean() > 0.5  # floor 3,703.5 shares -> 38 lots, binding
