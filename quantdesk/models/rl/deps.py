"""The optional stack of the agents (the ``ml`` extra), with one line when it is missing."""

from __future__ import annotations

from types import ModuleType

from quantdesk.errors import DependencyError

__all__ = ["missing", "require"]

INSTALL = "pip install 'quantdesk[ml]'"


def require(module: str) -> ModuleType:
    """Import ``module`` (``gymnasium``, ``stable_baselines3``, ``torch``) or fail in one line."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(module) from None


def missing(module: str) -> DependencyError:
    """The one-line error for a missing ``module``."""
    return DependencyError(f"reinforcement-learning agents need {module.split('.')[0]}: {INSTALL}")
