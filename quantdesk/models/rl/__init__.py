"""Reinforcement-learning trading agents (issue 13 item 8): ``ppo`` and ``dqn``.

==================  ==================================================================
module              what it holds
==================  ==================================================================
:mod:`.tape`        the market as precomputed arrays (fill prices through the paper
                    broker's matching, price limits, fill days)
:mod:`.account`     cash in cents, whole lots, exact fees (the market's cost model), T+1
:mod:`.env`         the gymnasium environment: hold / buy / sell, reward = change in
                    equity net of costs
:mod:`.agents`      the stable-baselines3 agents as registry models
:mod:`.evaluation`  out of sample beside buy-and-hold, a random agent and ``t1``
==================  ==================================================================

Training needs the ``ml`` extra (PyTorch, gymnasium, stable-baselines3); without it
using an agent fails with one line naming ``pip install 'quantdesk[ml]'``. Trained
agents trade live (paper) through the ``rl`` strategy.
"""
