"""The store suite runs twice: on a real SQLite file and on a real PostgreSQL server.

`pipe` is imported lazily here: under `pytest --pipe-impl=exported` this conftest loads before
the exported file stands in for the package."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pipe.storage.codec import Artifact
    from pipe.storage.database import Database
    from pipe.storage.vault import ArtifactVault


@pytest.fixture(autouse=True)
async def _close_pipe_runtime() -> AsyncIterator[None]:
    """Each test's event loop gets its own runtime (HTTP clients, databases): close it."""
    from pipe.runtime import close_runtimes

    yield
    await close_runtimes()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'artifacts.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    from pipe.storage.database import Database, choose_target

    db = Database(choose_target(store_url))
    yield db
    await db.dispose()


@pytest.fixture
async def vault(database: Database) -> AsyncIterator[ArtifactVault]:
    from pipe.storage.vault import ArtifactVault

    v = ArtifactVault(database, "current-secret", [], save_timeout=5.0, load_timeout=5.0)
    yield v
    await v.close()


def make_artifact(
    item: dict | None = None,
    *,
    user: str = "u1",
    chat: str = "c1",
    item_type: str | None = None,
    offset: int = 0,
) -> Artifact:
    from pipe.storage.codec import Artifact, new_artifact_id

    item = item or {
        "type": "reasoning",
        "id": "rs_" + new_artifact_id(),
        "summary": [{"type": "summary_text", "text": "thinking about it"}],
        "encrypted_content": "gAAAA-secret-chain",
    }
    return Artifact(
        id=new_artifact_id(),
        user_id=user,
        chat_id=chat,
        message_id="m1",
        model_id="openai/o4-mini",
        item_type=item_type or str(item["type"]),
        item=item,
        offset=offset,
    )
