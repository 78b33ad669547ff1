"""Settings name plug-ins by registry: a plug-in registered outside the package is
selectable by configuration; an unknown name is one line listing the known ones."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantdesk.config import load_settings
from quantdesk.config.settings import BUILTIN_PLUGINS, PLUGIN_SETTINGS, plugin_registry
from quantdesk.errors import ConfigError
from quantdesk.runtime.runner import Runner
from quantdesk.sources.base import SOURCES
from quantdesk.storage import open_store

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("setting", "value", "line"),
    [
        ("bus", "zeromq", "QUANTDESK_BUS: unknown bus 'zeromq'; known: kafka, memory"),
        (
            "source",
            "kafka",
            "QUANTDESK_SOURCE: unknown source 'kafka'; known: finnhub, replay, simulator",
        ),
        (
            "tweets",
            "twitter:x",
            "QUANTDESK_TWEETS: unknown tweet source 'twitter'; known: file, http, mock, none",
        ),
    ],
)
def test_an_unknown_name_is_one_line_listing_the_known_ones(
    setting: str, value: str, line: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(**{setting: value})
    assert str(err.value) == line


def test_every_plugin_setting_has_a_registry_and_a_valid_default() -> None:
    settings = load_settings()
    for setting in PLUGIN_SETTINGS:
        registry = plugin_registry(setting)
        assert registry.setting == f"QUANTDESK_{setting.upper()}"
        name = getattr(settings, setting).partition(":")[0]
        assert name in registry
        # the names accepted without importing the registry are the ones it registers
        assert BUILTIN_PLUGINS[setting] <= set(registry.names())


def test_names_are_normalised_and_keep_their_argument() -> None:
    s = load_settings(bus=" Memory ", source="Replay:/data/Ticks", tweets="FILE:/t/A.jsonl")
    assert (s.bus, s.source, s.tweets) == ("memory", "replay:/data/Ticks", "file:/t/A.jsonl")


def test_a_source_registered_outside_the_package_runs_from_a_setting(tmp_path: Path) -> None:
    SOURCES.register("ticker", "tests.unit.sources.plugin_source:TickerSource")
    try:
        settings = load_settings(
            data_dir=tmp_path, source="ticker", tweets="none", market="us", backfill_days=0
        )
        store = open_store(settings.resolved_database_url)
        rt = Runner(settings, store, test_mode=True, echo=lambda _m: None)
        rt.prepare()
        assert rt.source.describe() == "one trade a second"
        start = rt.sim_time
        assert start is not None
        asyncio.run(rt.run_until(start + 5 * 60_000))
        asyncio.run(rt.shutdown())
        minutes = store.query_bars("TICK", "1m")
        full = [r for r in minutes if r[9] == 60]
        assert len(full) >= 4 and {r[10] for r in minutes} == {"ticker"}
        assert all(r[7] == 6_000.0 for r in full)  # 60 trades of 100
        store.close()
    finally:
        SOURCES.unregister("ticker")


def test_an_entry_point_bus_is_selectable_by_quantdesk_bus(tmp_path: Path) -> None:
    """A package installed beside quantdesk (an entry point, no code in quantdesk)."""
    pkg = tmp_path / "loopkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bus.py").write_text(
        "from quantdesk.bus.memory import MemoryBus\n\n\nclass LoopbackBus(MemoryBus):\n    pass\n"
    )
    info = tmp_path / "loopkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loopkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[quantdesk.buses]\nloopback = loopkg.bus:LoopbackBus\n")
    code = (
        "from quantdesk.bus import bus_from_settings\n"
        "from quantdesk.config import load_settings\n"
        "s = load_settings()\n"
        "print(s.bus, type(bus_from_settings(s)).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "QUANTDESK_BUS": "loopback"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "loopback LoopbackBus"
    env["QUANTDESK_BUS"] = "nope"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert "QUANTDESK_BUS: unknown bus 'nope'; known: kafka, loopback, memory" in out.stderr


def test_database_url_schemes_are_the_storage_backends() -> None:
    from quantdesk.config.settings import BUILTIN_DATABASE_SCHEMES
    from quantdesk.storage.base import BACKENDS

    assert set(BACKENDS.names()) >= BUILTIN_DATABASE_SCHEMES
    with pytest.raises(ConfigError) as err:
        load_settings(database_url="mysql://u@h/db")
    assert "\n" not in str(err.value) and "postgresql://" in str(err.value)
    BACKENDS.register("memdb", "quantdesk.storage.sqlite:SQLiteStore")
    try:  # a backend registered by a user's package is selectable by the setting
        assert load_settings(database_url="memdb://x").database_url == "memdb://x"
    finally:
        BACKENDS.unregister("memdb")
