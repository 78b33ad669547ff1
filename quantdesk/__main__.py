"""``python -m quantdesk`` runs the CLI."""

from quantdesk.cli import app

app()
