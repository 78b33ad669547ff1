"""Getting bars into the store: simulated backfill and user files."""
