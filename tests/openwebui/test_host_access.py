"""The fake host against the real Open WebUI 0.12.4 on what `/api/models` lists and who may use
a model: the same requests to both hosts over HTTP must get the same answers.

- a pipe model's `/api/models` entry has the same keys, with `actions`/`filters`/`tags` empty;
- a `role: "user"` account sees no pipe model (`{"data": []}`) and chatting is
  `400 {"detail": "Model not found"}` until a workspace entry grants it `read`;
- the admin sees and uses the model throughout;
- with `BYPASS_MODEL_ACCESS_CONTROL=true` the user sees and uses it from the start.

The session's Open WebUI runs with the bypass on (the other live tests chat as admin and as
users); the default rules are checked on a second instance started without it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from simulator.host.server import FunctionSpec, HostConfig, create_app
from tests.openwebui.conftest import PIPES

# The first test of a session also starts Open WebUI (slow on a loaded machine).
pytestmark = [pytest.mark.openwebui, pytest.mark.timeout(300)]

PASSWORD = "orsim-Test-pass-1"
ASK = [{"role": "user", "content": "hello"}]


@dataclass
class Side:
    """One host as a client sees it: an HTTP client and the two bearer tokens."""

    client: httpx.AsyncClient
    admin: dict[str, str]
    user: dict[str, str]
    user_id: str
    model: str


_ids = itertools.count(1)


@pytest.fixture(scope="module")
def guarded_owui() -> Iterator:
    """A second Open WebUI with its default access control (no bypass)."""
    from simulator.owui_live.instance import OpenWebUI

    with OpenWebUI.start(env={"BYPASS_MODEL_ACCESS_CONTROL": "false"}) as instance:
        yield instance


@pytest.fixture(params=[False, True], ids=["default_rules", "bypass"])
def bypass(request) -> bool:
    return request.param


@pytest.fixture
async def real(request, bypass) -> AsyncIterator[Side]:
    owui = request.getfixturevalue("owui" if bypass else "guarded_owui")
    model = f"access_plain_{next(_ids)}"
    owui.create_function(PIPES / "plain_pipe.py", id=model)
    email = f"access-{uuid.uuid4().hex[:8]}@example.com"
    added = owui.request(
        "POST",
        "/api/v1/auths/add",
        {"name": "Plain User", "email": email, "password": PASSWORD, "role": "user"},
    )
    async with httpx.AsyncClient(base_url=owui.base_url, timeout=60) as client:
        signin = await client.post(
            "/api/v1/auths/signin", json={"email": email, "password": PASSWORD}
        )
        signin.raise_for_status()
        yield Side(
            client,
            owui.headers,
            {"Authorization": f"Bearer {signin.json()['token']}"},
            added["id"],
            model,
        )
    owui.request("DELETE", f"/api/v1/users/{added['id']}")
    try:
        owui.request("DELETE", f"/api/v1/models/model/delete?id={model}")
    except Exception:  # no entry was made
        pass
    owui.delete_function(model)


@pytest.fixture
async def fake(tmp_path, bypass) -> AsyncIterator[Side]:
    config = HostConfig(
        functions=[FunctionSpec(str(PIPES / "plain_pipe.py"), function_id="plain")],
        users={
            "admin-token": {"id": "a1", "role": "admin", "email": "a@x.io", "name": "A"},
            "user-token": {"id": "u1", "role": "user", "email": "u@x.io", "name": "U"},
        },
        valves_path=str(tmp_path / "valves.json"),
        bypass_model_access_control=bypass,
    )
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        yield Side(
            client,
            {"Authorization": "Bearer admin-token"},
            {"Authorization": "Bearer user-token"},
            "u1",
            "plain",
        )


async def _observe(side: Side) -> list[object]:
    """The answers a client sees, before and after the user is granted the model."""

    async def listed(headers: dict[str, str]) -> list[str]:
        r = await side.client.get("/api/models", headers=headers)
        return [m["id"] for m in r.json()["data"] if m["id"] == side.model]

    async def chat(headers: dict[str, str]) -> tuple[int, object]:
        body = {"model": side.model, "messages": ASK, "stream": False}
        r = await side.client.post("/api/chat/completions", headers=headers, json=body)
        return r.status_code, r.json() if r.status_code >= 400 else "answered"

    seen: list[object] = [
        await listed(side.user),
        await chat(side.user),
        await listed(side.admin),
        (await chat(side.admin))[0],
    ]
    grant = {"principal_type": "user", "principal_id": side.user_id, "permission": "read"}
    created = await side.client.post(
        "/api/v1/models/create",
        headers=side.admin,
        json={
            "id": side.model,
            "name": "Plain",
            "meta": {},
            "params": {},
            "access_grants": [grant],
        },
    )
    seen += [created.status_code, await listed(side.user), await chat(side.user)]
    return seen


async def test_model_access_matches_open_webui(real, fake, bypass):
    before = (
        [["<model>"], (200, "answered")] if bypass else [[], (400, {"detail": "Model not found"})]
    )
    expected = [*before, ["<model>"], 200, 200, ["<model>"], (200, "answered")]

    def masked(side: Side, seen: list[object]) -> list[object]:
        return [["<model>"] if s == [side.model] else s for s in seen]

    real_seen = masked(real, await _observe(real))
    fake_seen = masked(fake, await _observe(fake))
    assert real_seen == expected
    assert fake_seen == real_seen


@pytest.mark.parametrize("bypass", [True], ids=["bypass"], indirect=True)
async def test_models_entries_have_the_same_keys_and_empty_actions(real, fake, bypass):
    async def entry(side: Side) -> dict:
        r = await side.client.get("/api/models", headers=side.admin)
        return next(m for m in r.json()["data"] if m["id"] == side.model)

    real_entry, fake_entry = await entry(real), await entry(fake)
    assert real_entry["actions"] == real_entry["filters"] == real_entry["tags"] == []
    assert set(fake_entry) == set(real_entry)
    for key in ("actions", "filters", "tags", "object", "owned_by", "pipe"):
        assert fake_entry[key] == real_entry[key], key
