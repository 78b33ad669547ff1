from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantdesk.errors import DataError, NotFoundError
from quantdesk.sentiment.model import (
    SHIPPED_DATA,
    SentimentModel,
    latest_version,
    load_model,
    read_training_csv,
    train,
)


def test_shipped_csv_format() -> None:
    texts, labels, groups = read_training_csv(SHIPPED_DATA)
    assert len(texts) >= 3000
    assert set(labels) == {"positive", "negative", "neutral"}
    assert groups is not None and len(set(groups)) >= 30


def test_round_trip(trained_dir: Path, model: SentimentModel) -> None:
    meta = json.loads((trained_dir / "sentiment-v1.json").read_text())
    assert meta["version"] == 1 and meta["rows"] >= 3000
    m = meta["metrics"]
    # held-out templates: the model beats the VADER baseline on this data
    assert m["accuracy"] > 0.85 and m["f1"] > 0.85
    assert m["accuracy"] > m["vader_accuracy"]
    assert "held-out groups" in m["split"]
    assert model.version == 1
    out = model.score(
        [
            "$AAPL to the moon 🚀🚀 buying more",
            "Not bullish on Tesla anymore, getting wrecked 📉",
            "$600036 reports earnings on Thursday after the close",
        ]
    )
    assert [s.label for s in out] == ["positive", "negative", "neutral"]
    assert out[0].score > 0.5 and out[1].score < -0.5 and abs(out[2].score) < 0.5
    assert [s.symbols for s in out] == [["AAPL"], ["TSLA"], ["600036.SH"]]
    assert all(-1.0 <= s.score <= 1.0 for s in out)


def test_batch_equals_single(model: SentimentModel) -> None:
    texts = ["bagholder of $NVDA 😭", "LFG $MSFT 🚀", "watching BYD today"]
    batch = [s.score for s in model.score(texts)]
    single = [model.score([t])[0].score for t in texts]
    assert np.allclose(batch, single)
    assert model.score([]) == []


def test_versions_and_label_aliases(tmp_path: Path) -> None:
    rows = ["text,label"]
    for i in range(30):
        rows += [f"great rally {i} buy,1", f"awful crash {i} sell,-1", f"meeting at {i} pm,0"]
    csv = tmp_path / "small.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    mdir = tmp_path / "models"
    r1 = train(csv, mdir)
    r2 = train(csv, mdir)
    assert (r1.version, r2.version) == (1, 2)
    assert r1.metrics.split == "stratified random rows"
    assert latest_version(mdir) == 2
    assert load_model(mdir).version == 2 and load_model(mdir, version=1).version == 1
    assert load_model(mdir).predict(["great rally buy"]) == ["positive"]


def test_bad_csv(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("text,label\nhello,maybe\n", encoding="utf-8")
    with pytest.raises(DataError, match="row 2, field 'label'"):
        train(p, tmp_path / "m")
    p.write_text("words,label\nhello,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="header"):
        train(p, tmp_path / "m")
    with pytest.raises(NotFoundError):
        train(tmp_path / "missing.csv", tmp_path / "m")
    with pytest.raises(NotFoundError, match="no sentiment model"):
        load_model(tmp_path / "empty")
