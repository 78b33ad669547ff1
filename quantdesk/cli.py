"""Console entry point; the commands live in :mod:`quantdesk.commands`."""

from quantdesk.commands import app, main

__all__ = ["app", "main"]
