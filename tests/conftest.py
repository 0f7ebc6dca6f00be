"""Shared pytest fixtures. Feature fixtures live in tests/fixtures_*.py modules imported here."""

pytest_plugins = ["tests.sim_fixtures", "tests.host_fixtures", "tests.fixtures_postgres"]
