"""``--help`` without ``<bool>`` after plain flags.

typer (0.2x) prints each option's type in its help panel, and does so for
flags too (``--test <bool>``, even ``--help <bool>``), which reads as if
the flag took a value. :func:`hide_flag_types` makes a flag's type column
empty; options that take a value keep theirs (``--port <int>``). Applied
once, when :mod:`quantdesk.commands` is imported. When typer changes the
method's name this does nothing (and help shows typer's own output).
"""

from __future__ import annotations

from typing import Any


def hide_flag_types() -> None:
    from typer import core

    option = getattr(core, "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if option is None or original is None or getattr(original, "_quantdesk", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        result: str | None = original(self, ctx)
        return result

    display_type_rich._quantdesk = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich
