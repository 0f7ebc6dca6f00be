"""Shared pytest fixtures. Feature fixtures live in tests/fixtures_*.py modules imported here."""
