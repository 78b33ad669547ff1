"""Small daily data and tiny agent settings for the RL tests (seconds, not minutes)."""

from __future__ import annotations

import pytest

from quantdesk.models.datasets.base import Dataset
from quantdesk.models.datasets.controls import control_dataset

#: A few hundred timesteps: enough to train something, fast enough for CI.
TINY = {
    "ppo": {"timesteps": 512, "n_steps": 128, "batch_size": 64, "hidden": 16},
    "dqn": {"timesteps": 512, "learning_starts": 100, "batch_size": 32, "hidden": 16},
}


@pytest.fixture(scope="session")
def walk() -> Dataset:
    """The random-walk control's daily rows: 4 stocks, about 85 days after warm-up."""
    return control_dataset("random", "daily", n_stocks=4, n_days=120, seed=5)
