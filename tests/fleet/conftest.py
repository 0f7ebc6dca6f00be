"""Several workers sharing real servers: `orsim serve-host --workers K` over a real redis-server
(and, for the artifact store, PostgreSQL). The serve-host fixture is the host group's."""

from __future__ import annotations

from tests.host.conftest import serve_host  # noqa: F401  (a fixture, re-exported)
