"""The typer sub-apps of the ``quantdesk`` command: thin, parse then call the packages."""
