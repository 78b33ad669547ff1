"""Shared fixtures: real servers live in tests/fixtures/ (one module each)."""

pytest_plugins = ["tests.fixtures.postgres", "tests.fixtures.kafka"]
