"""The Grafana dashboards: valid JSON whose PromQL names only metrics quantdesk exports.

The exported names come from real processes: the API app over a real embedded
runtime (trades processed, a dead letter, requests with several status codes,
a WebSocket client) and a real stream worker's metrics port (the Prometheus
alert rules are checked against the same names).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from quantdesk.api.app import create_app
from quantdesk.api.context import ApiContext
from quantdesk.bus import TradeBatch
from quantdesk.bus.codec import encode_trades
from quantdesk.bus.memory import MemoryBus
from quantdesk.config import load_settings
from quantdesk.runtime.consumer import StreamConsumer
from quantdesk.runtime.metrics import serve_worker_metrics
from quantdesk.runtime.pipeline import StreamProcessor
from quantdesk.runtime.runner import Runner
from quantdesk.runtime.sink import StoreSink
from quantdesk.storage import open_store

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
MIN = 60_000
#: series Prometheus makes itself, and labels it adds to every series it scrapes
PROMETHEUS_OWN = {"up": {"job", "instance"}}
TARGET_LABELS = {"job", "instance"}
_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan",
}  # fmt: skip


def _parse(text: str) -> dict[str, set[str]]:
    """Sample name -> its label names, from a /metrics page."""
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    mp = pytest.MonkeyPatch()
    for key, value in {
        "QUANTDESK_ARGON2_TIME_COST": "1",
        "QUANTDESK_ARGON2_MEMORY_KIB": "64",
        "QUANTDESK_ADMIN_PASSWORD": "admin-pw",
        "QUANTDESK_JWT_SECRET": "grafana-test-secret-0123456789abcdef",
    }.items():
        mp.setenv(key, value)
    tmp = tmp_path_factory.mktemp("metrics")
    settings = load_settings(data_dir=tmp, backfill_days=0, seed=3, sentiment_rate=0.0)
    store = open_store(settings.resolved_database_url)
    names: dict[str, set[str]] = {}
    try:
        # the API process: an app over a real runtime
        rt = Runner(settings, store, test_mode=True, echo=lambda _m: None)
        rt.prepare()
        rt.bus.publish(rt.bus.topics.trades, "X", b"{not json")  # one dead letter
        asyncio.run(rt.run_until(rt.clock.start + 3 * MIN))
        app = create_app(ApiContext(store, settings, rt.bus, rt), echo=lambda _m: None)
        with TestClient(app) as client:
            symbol = rt.universe[0].symbol
            assert client.get("/api/klines", params={"symbol": symbol}).status_code == 200
            assert client.get("/api/klines", params={"symbol": symbol}).status_code == 200
            assert client.get("/api/klines", params={"symbol": "NOPE"}).status_code == 404
            tok = client.post(
                "/api/auth/token", data={"username": "admin", "password": "admin-pw"}
            ).json()["access_token"]
            with client.websocket_connect("/ws/enhanced") as ws:
                ws.send_json({"token": tok})  # never in the URL
                ws.receive_json()
                page = client.get("/metrics").text
        for name, labels in _parse(page).items():
            names.setdefault(name, set()).update(labels)
        rt_rejects = dict(rt.processor.rejects)
        assert rt_rejects.get("bad_json") == 1, rt_rejects

        # a stream worker's metrics port
        bus = MemoryBus()
        bus.start()
        processor = StreamProcessor(None, {"AAA"})
        consumer = StreamConsumer(bus, processor, StoreSink(store), checkpoint_seconds=None)
        ts = np.arange(3, dtype=np.int64) * 1000 + 1_700_000_000_000
        batch = TradeBatch("AAA", ts, np.array([10.0, 10.1, 10.2]), np.ones(3), "test")
        bus.publish(bus.topics.trades, "AAA", encode_trades(batch))
        bus.publish(bus.topics.trades, "AAA", b"\xff not utf-8")
        while consumer.poll_once(timeout=0.05):
            pass
        server, collector = serve_worker_metrics(consumer, "127.0.0.1", _free_port())
        try:
            collector.refresh_lag(force=True)
            port = server.server_address[1]
            page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        finally:
            server.shutdown()
            server.server_close()
            consumer.close(final_checkpoint=False)
            bus.close()
        for name, labels in _parse(page).items():
            names.setdefault(name, set()).update(labels)
    finally:
        store.close()
        mp.undo()
    return names


def _strip(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors ([5m], [$__range])
    return expr


def metrics_in(expr: str) -> set[str]:
    """Metric names of a PromQL expression (identifiers that are neither functions nor labels)."""
    text = _strip(expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = m.group(0)
        after = text[m.end() :].lstrip()
        if after.startswith("(") or name.lower() in _KEYWORDS or name.startswith("$"):
            continue
        if text[: m.start()].endswith("$"):  # a Grafana variable
            continue
        found.add(name)
    return found


def labels_in(expr: str) -> set[str]:
    """Label names a PromQL expression groups by or matches on."""
    text = _strip(expr)
    labels = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        labels.update(x.strip() for x in group.split(",") if x.strip())
    for matchers in re.findall(r"\{([^}]*)\}", text):
        labels.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    return labels


def _exprs(panel: dict[str, Any]) -> list[str]:
    out = [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    for inner in panel.get("panels", []):
        out += _exprs(inner)
    return out


def _all_exprs() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            out += [(f"{path.name}: {panel['title']}", e) for e in _exprs(panel)]
    for path in RULES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out += [(f"{path.name}: {r['alert']}", str(r["expr"])) for r in group["rules"]]
    return out


def test_the_parser_finds_metrics_and_labels() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(quantdesk_http_request_duration_"
        'seconds_bucket{status=~"5.."}[5m]))) / on(job) up'
    )
    assert metrics_in(expr) == {"quantdesk_http_request_duration_seconds_bucket", "up"}
    assert labels_in(expr) == {"le", "route", "status", "job"}
    assert metrics_in("time() - max by (instance) (x_total) > bool 3") == {"x_total"}


def test_dashboards_are_valid_and_use_the_provisioned_data_source() -> None:
    assert {p.name for p in DASHBOARDS} >= {"pipeline.json", "api.json"}
    uid = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())[
        "datasources"
    ][0]["uid"]
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] and board["title"] and board["panels"], path.name
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert _exprs(panel), f"{path.name}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid
    assert len(uids) == len(DASHBOARDS)


def test_the_dashboards_cover_what_operators_watch() -> None:
    used = set().union(*(metrics_in(e) for _, e in _all_exprs()))
    for name in (
        "quantdesk_trades_total",  # pipeline throughput
        "quantdesk_stream_lag_messages",  # lag (Kafka)
        "quantdesk_bus_lag_seconds",  # lag (event time)
        "quantdesk_rejects_total",  # dead letters by reason
        "quantdesk_http_request_duration_seconds_bucket",  # API latency
        "quantdesk_http_request_duration_seconds_count",  # status codes
        "quantdesk_ws_clients",
        "quantdesk_ws_dropped_messages_total",
    ):
        assert name in used, name


def test_every_query_names_exported_metrics_and_labels(exported: dict[str, set[str]]) -> None:
    known = {**exported, **PROMETHEUS_OWN}
    problems = []
    for where, expr in _all_exprs():
        metrics = metrics_in(expr)
        missing = sorted(m for m in metrics if m not in known)
        if missing:
            problems.append(f"{where}: {', '.join(missing)} not exported")
            continue
        available = set().union(TARGET_LABELS, *(known[m] for m in metrics))
        unknown = sorted(labels_in(expr) - available)
        if unknown:
            problems.append(f"{where}: label(s) {', '.join(unknown)} on none of {sorted(metrics)}")
    assert not problems, "\n".join(problems)


def test_a_dashboard_naming_an_unknown_metric_is_caught(exported: dict[str, set[str]]) -> None:
    assert metrics_in("rate(quantdesk_trades_totl[1m])") - set(exported) == {
        "quantdesk_trades_totl"
    }
