from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from quantdesk.errors import DataError, ModelRejectedError, NotFoundError
from quantdesk.sentiment.model import (
    SHIPPED_DATA,
    SHIPPED_EVAL,
    EvalReport,
    SentimentModel,
    latest_version,
    load_model,
    read_eval_csv,
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


def _small(tmp_path: Path) -> tuple[Path, Path]:
    """A toy training set and a toy evaluation set of the same language."""
    rows = ["text,label"]
    for i in range(30):
        rows += [f"great rally {i} buy,1", f"awful crash {i} sell,-1", f"meeting at {i} pm,0"]
    csv = tmp_path / "small.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ev = tmp_path / "small_eval.csv"
    ev.write_text(
        "text,label\ngreat rally today buy,positive\nawful crash sell now,negative\n"
        "meeting at noon,neutral\nbuy the great rally,positive\n",
        encoding="utf-8",
    )
    return csv, ev


def test_versions_and_label_aliases(tmp_path: Path) -> None:
    csv, ev = _small(tmp_path)
    mdir = tmp_path / "models"
    r1 = train(csv, mdir, eval_path=ev)
    r2 = train(csv, mdir, eval_path=ev)
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
    with pytest.raises(NotFoundError, match="no promoted sentiment model"):
        load_model(tmp_path / "empty")


def test_shipped_model_beats_both_baselines_on_the_evaluation_set(trained_dir: Path) -> None:
    """The hand-labelled finance tweets: the shipped model >= VADER and FinVADER."""
    texts, labels = read_eval_csv(SHIPPED_EVAL)
    assert len(texts) >= 200 and set(labels) == {"positive", "negative", "neutral"}
    assert min(labels.count(x) for x in set(labels)) >= 60  # every class well represented
    meta = json.loads((trained_dir / "sentiment-v1.json").read_text())
    ev = meta["evaluation"]
    assert meta["promoted"] is True and ev["passed"] is True and ev["n"] == len(texts)
    rows = {r["name"]: r for r in ev["rows"]}
    me = rows["model v1 (new)"]
    for base in ("VADER", "FinVADER lexicon"):
        assert rows[base]["baseline"]
        assert me["accuracy"] >= rows[base]["accuracy"], (base, rows)
        assert me["f1"] >= rows[base]["f1"], (base, rows)
    # and the figures are those of the served model, recomputed here
    served = load_model(trained_dir).predict(texts)
    acc = sum(p == y for p, y in zip(served, labels, strict=True)) / len(labels)
    assert acc == pytest.approx(me["accuracy"])


def test_plain_market_language(model: SentimentModel) -> None:
    """The issue's example, and words the training data never had (the lexicon carries them)."""
    out = model.predict(
        [
            "recall disaster, stock crashes",
            "regulators approved the drug, shares skyrocket",
            "insolvency fears, creditors circling",
        ]
    )
    assert out == ["negative", "positive", "negative"]


def test_a_model_below_its_baseline_is_refused_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv, _ = _small(tmp_path)
    mdir = tmp_path / "models"
    # toy words only: on real finance tweets it loses to VADER and FinVADER
    with pytest.raises(ModelRejectedError, match="not promoted") as exc:
        train(csv, mdir)
    assert isinstance(exc.value.report, EvalReport) and not exc.value.report.passed
    assert "REJECTED" in exc.value.report.table()
    assert any(r.levelname == "ERROR" and "rejected" in r.message for r in caplog.records)
    assert not mdir.exists() or not any(mdir.iterdir())  # nothing saved
    with pytest.raises(NotFoundError):
        load_model(mdir)


def test_the_evaluation_set_is_never_trained_on(tmp_path: Path) -> None:
    texts, labels = read_eval_csv(SHIPPED_EVAL)
    csv = tmp_path / "leaky.csv"
    shipped = SHIPPED_DATA.read_text(encoding="utf-8")
    csv.write_text(shipped + f'"{texts[5].upper()}",{labels[5]}\n', encoding="utf-8")
    with pytest.raises(DataError, match="in the evaluation set"):
        train(csv, tmp_path / "m")
    shipped_texts, _, _ = read_training_csv(SHIPPED_DATA)
    norm = {" ".join(t.lower().split()) for t in shipped_texts}
    assert not any(" ".join(t.lower().split()) in norm for t in texts)


def test_an_unpromoted_or_old_model_is_never_served(tmp_path: Path) -> None:
    csv, ev = _small(tmp_path)
    mdir = tmp_path / "models"
    train(csv, mdir, eval_path=ev)
    train(csv, mdir, eval_path=ev)
    meta_path = mdir / "sentiment-v2.json"
    meta = json.loads(meta_path.read_text())
    meta["promoted"] = False
    meta_path.write_text(json.dumps(meta))
    assert latest_version(mdir) == 1  # the newest promoted one is served
    with pytest.raises(ModelRejectedError, match="not promoted"):
        load_model(mdir, version=2)
    old = json.loads((mdir / "sentiment-v1.json").read_text())
    old["format_version"] = 1  # a model from before the evaluation gate
    (mdir / "sentiment-v1.json").write_text(json.dumps(old))
    assert latest_version(mdir) is None
