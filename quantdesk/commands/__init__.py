"""The ``quantdesk`` command's sub-apps (typer), one module per area; thin: parse, then call."""
