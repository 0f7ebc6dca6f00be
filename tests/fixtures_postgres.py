"""PostgreSQL for tests: one real server per session (Debian's `postgresql` package, started
with initdb/pg_ctl in a temp dir on a free port), one fresh database per test.

`postgres_server` is the running `PostgresServer`; `postgres_url` a new empty database's URL
(dropped after the test). Without the package the tests fail with the install hint; set
ORSIM_SKIP_POSTGRES=1 to skip them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from simulator.services.postgres import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get("ORSIM_SKIP_POSTGRES") == "1":
        pytest.skip("ORSIM_SKIP_POSTGRES=1")
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[-1])
