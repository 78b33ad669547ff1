"""``ppo`` and ``dqn``: stable-baselines3 agents as registry models.

An agent is a :class:`~quantdesk.models.base.Model` of kind ``agent``: ``fit``
trains it in the :class:`~.env.TradingEnv` over the ``daily`` rows it is given
(``quantdesk model train --model ppo --dataset daily``), the artifact holds the
stable-baselines3 archive, and every trained agent is a registry version.
``predict`` answers, per row, the action a flat agent takes there as a signal
(``+1`` buy, ``0`` hold or sell): agents make no price forecasts, so they are
left out of ``model evaluate all`` and of the prediction jobs; they trade
through the ``rl`` strategy and are scored by :mod:`.evaluation`.

Seeded and reproducible: the same seed, data and parameters give the same
network weights (one torch thread while training), so the same actions.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from quantdesk.errors import ModelError
from quantdesk.models.base import Model, Progress
from quantdesk.models.datasets.base import F64, I64, Dataset
from quantdesk.models.rl.deps import require
from quantdesk.models.rl.tape import F32, Tape, build_tape
from quantdesk.trading.market import MarketRules, rules_for

__all__ = ["DQNAgent", "PPOAgent", "RLAgent"]

MEMBER = "agent.zip"


@contextlib.contextmanager
def _one_thread() -> Iterator[Any]:
    torch = require("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)


class RLAgent(Model):
    """Common part of the agents; subclasses name the algorithm and its settings."""

    kind: ClassVar[str] = "agent"
    algorithm: ClassVar[str] = ""

    def __init__(self, params: dict[str, Any] | None = None, *, seed: int = 0) -> None:
        super().__init__(params, seed=seed)
        self.policy: Any = None

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            "timesteps": 20_000,
            "episode_days": 60,
            "cash": 1_000_000.0,
            "market": "cn",
            "hidden": 64,
            "learning_rate": 3e-4,
            "gamma": 0.99,
        }

    @classmethod
    def for_jobs(cls, ctx: Any) -> Any:
        from quantdesk.errors import JobSkipped

        raise JobSkipped(
            f"{cls.name} is a trading agent: it makes no price predictions (it trades"
            " through the rl strategy)"
        )

    def rules(self) -> MarketRules:
        return rules_for(str(self.params["market"]))

    def tape(self, data: Dataset) -> Tape:
        return build_tape(data, self.rules(), self.features)

    def _bind(self, data: Dataset) -> None:
        if data.name != "daily":
            raise ModelError(f"{self.name} trades the daily data set: use --dataset daily")
        super()._bind(data)

    def _algorithm_kwargs(self) -> dict[str, Any]:
        return {}

    def _fit(
        self, data: Dataset, rows: I64, parent: Model | None, progress: Progress | None
    ) -> None:
        from quantdesk.models.rl.env import TradingEnv

        sb3 = require("stable_baselines3")
        env = TradingEnv(
            self.tape(data),
            self.rules(),
            cash=float(self.params["cash"]),
            episode_days=int(self.params["episode_days"]),
        )
        total = int(self.params["timesteps"])
        hidden = int(self.params["hidden"])
        with _one_thread() as torch:
            torch.manual_seed(self.seed)
            algo = getattr(sb3, self.algorithm)(
                "MlpPolicy",
                env,
                seed=self.seed,
                device="cpu",
                verbose=0,
                learning_rate=float(self.params["learning_rate"]),
                gamma=float(self.params["gamma"]),
                policy_kwargs={"net_arch": [hidden, hidden]},
                **self._algorithm_kwargs(),
            )
            # a logger that writes nowhere: SB3's default makes an empty /tmp/SB3-* folder per fit
            algo.set_logger(require("stable_baselines3.common.logger").Logger(None, []))
            callback = _progress_callback(progress, total) if progress else None
            algo.learn(total_timesteps=total, callback=callback)
        self.policy = algo

    def act(self, obs: F32) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Deterministic actions (0 hold, 1 buy, 2 sell) for observations ``(n, k + 5)``."""
        if self.policy is None:
            raise ModelError(f"model {self.name} is not trained")
        with _one_thread():
            actions, _ = self.policy.predict(np.asarray(obs, np.float32), deterministic=True)
        return np.asarray(actions, dtype=np.int64).reshape(-1)

    def _predict(self, data: Dataset, rows: I64) -> F64:
        from quantdesk.models.rl.env import EXTRA

        x = np.clip(np.nan_to_num(self.xs(data, rows)), -5.0, 5.0)
        obs = np.zeros((len(rows), x.shape[1] + EXTRA), dtype=np.float32)
        obs[:, : x.shape[1]] = x
        return (self.act(obs) == 1).astype(np.float64)

    def _state(self) -> dict[str, bytes]:
        buf = io.BytesIO()
        self.policy.save(buf)
        return {MEMBER: buf.getvalue()}

    def _restore(self, state: dict[str, bytes]) -> None:
        sb3 = require("stable_baselines3")
        if MEMBER not in state:
            raise ModelError(f"{self.name} artifact has no {MEMBER}")
        self.policy = getattr(sb3, self.algorithm).load(io.BytesIO(state[MEMBER]), device="cpu")


class PPOAgent(RLAgent):
    """Proximal policy optimisation (on-policy, actor-critic)."""

    name = "ppo"
    algorithm = "PPO"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {**super().defaults(), "n_steps": 512, "batch_size": 64, "ent_coef": 0.01}

    def _algorithm_kwargs(self) -> dict[str, Any]:
        p = self.params
        return {
            "n_steps": int(p["n_steps"]),
            "batch_size": int(p["batch_size"]),
            "ent_coef": float(p["ent_coef"]),
        }


class DQNAgent(RLAgent):
    """Deep Q-network (off-policy, replay buffer, epsilon-greedy exploration)."""

    name = "dqn"
    algorithm = "DQN"

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            **super().defaults(),
            "learning_rate": 1e-3,
            "buffer_size": 50_000,
            "learning_starts": 500,
            "batch_size": 64,
            "exploration_fraction": 0.3,
            "target_update_interval": 500,
        }

    def _algorithm_kwargs(self) -> dict[str, Any]:
        p = self.params
        return {
            "buffer_size": int(p["buffer_size"]),
            "learning_starts": int(p["learning_starts"]),
            "batch_size": int(p["batch_size"]),
            "exploration_fraction": float(p["exploration_fraction"]),
            "target_update_interval": int(p["target_update_interval"]),
        }


def _progress_callback(progress: Progress, total: int) -> Any:
    """A stable-baselines3 callback reporting timesteps to ``progress``."""
    callbacks = require("stable_baselines3.common.callbacks")

    class Reporter(callbacks.BaseCallback):  # type: ignore[name-defined]
        def _on_step(self) -> bool:
            if self.num_timesteps % 256 == 0 or self.num_timesteps >= total:
                progress(min(self.num_timesteps, total), total)
            return True

    return Reporter()
