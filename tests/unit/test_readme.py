"""The README documents every setting and every CLI command."""

from __future__ import annotations

from pathlib import Path

import typer.main

from quantdesk.commands import app
from quantdesk.config.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    missing = [n for n in Settings.model_fields if f"QUANTDESK_{n.upper()}" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_command_is_documented() -> None:
    group = typer.main.get_group(app)
    names = []
    for name, cmd in group.commands.items():
        sub = getattr(cmd, "commands", None)
        names += [f"quantdesk {name} {s}" for s in sub] if sub else [f"quantdesk {name}"]
    missing = [n for n in names if n not in README]
    assert not missing, f"README lacks {missing}"
