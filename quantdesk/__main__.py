"""``python -m quantdesk`` runs the CLI."""

from quantdesk.commands import app

app()
