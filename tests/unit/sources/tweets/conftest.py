from __future__ import annotations

import pytest

from quantdesk.sentiment.model import SHIPPED_DATA, SentimentModel, train


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> SentimentModel:
    return train(SHIPPED_DATA, tmp_path_factory.mktemp("feed-model")).model
