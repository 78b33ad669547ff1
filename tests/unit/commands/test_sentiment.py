from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from quantdesk.commands.sentiment import app

runner = CliRunner()


def test_mock_is_deterministic() -> None:
    a = runner.invoke(app, ["mock", "--count", "5", "--seed", "3", "--market", "us"])
    b = runner.invoke(app, ["mock", "--count", "5", "--seed", "3", "--market", "us"])
    assert a.exit_code == 0 and a.stdout == b.stdout
    lines = a.stdout.splitlines()
    assert len(lines) == 5
    assert all(set(orjson.loads(x)) == {"data", "matching_rules"} for x in lines)
    bad = runner.invoke(app, ["mock", "--market", "eu"])
    assert bad.exit_code == 2 and "--market: use cn or us" in bad.stderr


def test_train_prints_metrics(tmp_path: Path) -> None:
    r = runner.invoke(app, ["train", "--model-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "model v1 saved" in r.stdout and "VADER" in r.stdout and "macro F1" in r.stdout
    # the evaluation-set table: every model beside VADER and the finance lexicon
    assert "evaluation set:" in r.stdout and "FinVADER lexicon" in r.stdout
    assert "model v1 (new): promoted" in r.stdout
    again = runner.invoke(app, ["train", "--model-dir", str(tmp_path)])
    assert "model v1 (saved)" in again.stdout and "model v2 (new): promoted" in again.stdout
    toy = tmp_path / "toy.csv"
    toy.write_text(
        "text,label\n" + "".join(f"up {i},1\ndown {i},-1\nflat {i},0\n" for i in range(20)),
        encoding="utf-8",
    )
    rejected = runner.invoke(app, ["train", "--data", str(toy), "--model-dir", str(tmp_path)])
    assert rejected.exit_code == 2
    assert "REJECTED" in rejected.stderr and "not promoted" in rejected.stderr
    assert not (tmp_path / "sentiment-v3.joblib").exists()
    missing = runner.invoke(
        app, ["train", "--data", str(tmp_path / "x.csv"), "--model-dir", str(tmp_path)]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_score_trains_first_and_survives_bad_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTDESK_DATA_DIR", str(tmp_path))
    tweets = runner.invoke(app, ["mock", "--count", "3", "--seed", "1"]).stdout_bytes
    stdin = tweets + b'{"text": "$AAPL to the moon \xf0\x9f\x9a\x80"}\n{bad\n\xff\xfe\n\n[1]\n'
    r = runner.invoke(app, ["score"], input=stdin)
    assert r.exit_code == 0, r.output
    assert "training one from" in r.stderr
    assert (tmp_path / "models" / "sentiment" / "sentiment-v1.joblib").is_file()
    out = [orjson.loads(x) for x in r.stdout.splitlines()]
    assert len(out) == 7  # one per non-blank line in
    assert [set(o) for o in out[:4]] == [{"id", "score", "label", "symbols"}] * 4
    assert out[3] == {
        "id": None,
        "score": out[3]["score"],
        "label": "positive",
        "symbols": ["AAPL"],
    }
    assert out[4:] == [
        {"line": 5, "error": "not_json"},
        {"line": 6, "error": "invalid_utf8"},
        {"line": 8, "error": "not_object"},
    ]
    assert "scored 4, rejected 3" in r.stderr
    again = runner.invoke(app, ["score"], input=b'{"text": "meh"}\n')
    assert "training" not in again.stderr
