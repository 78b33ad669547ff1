from __future__ import annotations

from pathlib import Path

import pytest

from quantdesk.sentiment.clean import SymbolResolver
from quantdesk.sentiment.model import SHIPPED_DATA, SentimentModel, train
from quantdesk.sources.simulator.universe import default_universe


@pytest.fixture(scope="session")
def resolver() -> SymbolResolver:
    return SymbolResolver(default_universe("cn") + default_universe("us"))


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sentiment-model")
    train(SHIPPED_DATA, d)
    return d


@pytest.fixture(scope="session")
def model(trained_dir: Path) -> SentimentModel:
    from quantdesk.sentiment.model import load_model

    return load_model(trained_dir)
