"""deploy/compose.yaml, checked without a container engine: parsed and validated structurally."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def test_the_stack_has_every_service() -> None:
    assert set(SERVICES) == {"quantdesk", "worker", "kafka", "postgres", "prometheus", "grafana"}
    assert SERVICES["quantdesk"]["command"][0] == "run"
    assert SERVICES["worker"]["command"] == ["worker"]
    assert (ROOT / SERVICES["quantdesk"]["build"]["context"].replace("..", ".")).is_dir()
    assert (DEPLOY / SERVICES["quantdesk"]["build"]["context"] / "Dockerfile").is_file()
    assert SERVICES["worker"]["image"] == SERVICES["quantdesk"]["image"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_health_restart_and_limits(name: str) -> None:
    svc = SERVICES[name]
    assert svc.get("restart") in {"unless-stopped", "always", "on-failure"}, name
    check = svc.get("healthcheck", {})
    assert check.get("test") and check.get("interval") and check.get("retries"), name
    limits = svc.get("deploy", {}).get("resources", {}).get("limits", {})
    assert limits.get("cpus") and limits.get("memory"), f"{name}: resource limits"
    assert re.fullmatch(r"\d+(\.\d+)?[kmg]", str(limits["memory"])), limits


def test_depends_on_waits_for_health_of_services_that_have_it() -> None:
    for name, svc in SERVICES.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{dep} has no health check"
    assert SERVICES["worker"]["depends_on"]["quantdesk"]["condition"] == "service_healthy"


def test_kafka_runs_in_kraft_mode_without_zookeeper() -> None:
    env = _env("kafka")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert "CONTROLLER" in env["KAFKA_LISTENERS"] and env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "zookeeper" not in (DEPLOY / "compose.yaml").read_text().lower().replace(
        "no zookeeper", ""
    )
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    bootstrap = _env("quantdesk")["QUANTDESK_KAFKA_BOOTSTRAP"]
    assert bootstrap == env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")


def test_workers_scale() -> None:
    worker = SERVICES["worker"]
    assert "ports" not in worker, "a published host port would stop --scale worker=N"
    assert "container_name" not in worker
    assert str(worker["deploy"]["replicas"]).startswith("${QUANTDESK_WORKERS")
    env = _env("worker")
    assert env["QUANTDESK_BUS"] == "kafka" and env["QUANTDESK_WORKER_METRICS_HOST"] == "0.0.0.0"
    assert env["QUANTDESK_WORKER_METRICS_PORT"] in {str(p) for p in worker["expose"]}


def test_every_quantdesk_process_shares_the_bus_and_the_store() -> None:
    api, worker = _env("quantdesk"), _env("worker")
    for key in ("QUANTDESK_BUS", "QUANTDESK_KAFKA_BOOTSTRAP", "QUANTDESK_DATABASE_URL"):
        assert api[key] == worker[key], key
    url = api["QUANTDESK_DATABASE_URL"]
    pg = _env("postgres")
    assert url.startswith(f"postgresql://{pg['POSTGRES_USER']}:") and url.endswith(
        f"@postgres:5432/{pg['POSTGRES_DB']}"
    )


def test_secrets_come_only_from_the_git_ignored_env_file() -> None:
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
    for name, svc in SERVICES.items():
        for key, value in {**svc.get("environment", {})}.items():
            if secret.search(str(key)):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), f"{name}: {key}"
        for item in svc.get("env_file", []):
            assert item == {"path": ".env", "required": True}, name
    # ${...} secrets inside other values (the database URL) are required ones too
    url = _env("quantdesk")["QUANTDESK_DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in url
    # the example is committed and lists every variable the compose file uses
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    used = set(_VAR.findall(yaml.safe_dump(COMPOSE)))
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    assert used <= listed, used - listed
    for line in example.splitlines():  # no secret value in the example
        key, _, value = line.partition("=")
        if not line.startswith("#") and secret.search(key):
            assert value == "", line
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/.env"], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "deploy/.env must be git-ignored"


def test_mounted_files_exist_and_volumes_are_declared() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name, svc in SERVICES.items():
        for mount in svc.get("volumes", []):
            source = str(mount).split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
    prom = [str(m) for m in SERVICES["prometheus"]["volumes"]]
    assert "./prometheus:/etc/prometheus:ro" in prom
    assert any(a.startswith("--config.file=/etc/prometheus/prometheus.yml")
               for a in SERVICES["prometheus"]["command"])  # fmt: skip


def test_prometheus_scrapes_every_quantdesk_process() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api_targets = jobs["quantdesk-api"]["static_configs"][0]["targets"]
    port = SERVICES["quantdesk"]["command"][SERVICES["quantdesk"]["command"].index("--port") + 1]
    assert api_targets == [f"quantdesk:{port}"]
    dns = jobs["quantdesk-worker"]["dns_sd_configs"][0]  # every scaled worker by DNS
    assert dns["names"] == ["worker"] and dns["type"] == "A"
    assert str(dns["port"]) == _env("worker")["QUANTDESK_WORKER_METRICS_PORT"]


def test_grafana_is_provisioned() -> None:
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"]
    assert [s["url"] for s in sources] == ["http://prometheus:9090"]
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/quantdesk.yaml").read_text()
    )["providers"]
    mounts = {str(m).split(":")[1]: str(m).split(":")[0] for m in SERVICES["grafana"]["volumes"]}
    path = providers[0]["options"]["path"]
    assert mounts[path] == "./grafana/dashboards"
    assert list((DEPLOY / "grafana" / "dashboards").glob("*.json"))
