"""A real `redis-server` per test (Debian package): free port, temp dir, stopped after.

`RedisServer` can be killed with SIGKILL and started again on the same port, which is what the
chaos tests need; `fake_redis_server` gives a fakeredis server for fast units and for outages
(`server.connected = False`). Nothing here touches a redis-server the test did not start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.services.redis_server import REDIS_SERVER, RedisServer


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running real redis-server on a free port in a temp dir; stopped after the test."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_redis_server():
    """A fakeredis server: share it between clients; `.connected = False` is an outage."""
    import fakeredis

    return fakeredis.FakeServer()
