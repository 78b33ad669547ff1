"""Small simulated data shared by the model tests (seconds, not minutes)."""

from __future__ import annotations

import pandas as pd
import pytest

from quantdesk.calendars.sessions import ExchangeCalendar
from quantdesk.models.datasets.base import Dataset
from quantdesk.models.datasets.controls import control_bars, control_dataset

#: Small, fast network settings for tests.
FAST_NETS = {"epochs": 3, "hidden": 8, "seq_len": 5, "batch_size": 128, "min_steps": 0}


@pytest.fixture(scope="session")
def planted_bars() -> tuple[pd.DataFrame, ExchangeCalendar]:
    return control_bars("planted", n_stocks=6, n_days=60, seed=3)


@pytest.fixture(scope="session")
def small_morning() -> Dataset:
    return control_dataset("planted", "morning", n_stocks=6, n_days=90, seed=3)


@pytest.fixture(scope="session")
def small_daily() -> Dataset:
    return control_dataset("planted", "daily", n_stocks=6, n_days=90, seed=3)
