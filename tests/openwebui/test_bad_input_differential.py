"""Malformed chat bodies: the fake host answers each exactly as the real Open WebUI 0.12.4
does (status and JSON body; a 200 answer's ids and timestamps aside)."""

from __future__ import annotations

import httpx
import pytest

from simulator.host.server import (
    DEFAULT_TOKEN,
    FunctionSpec,
    HostConfig,
    create_app,
    prepare_config,
)
from simulator.net import LoopbackServer
from tests.bad_bodies import bodies
from tests.openwebui.conftest import PIPES

pytestmark = pytest.mark.openwebui

VOLATILE = ("id", "created")


def _answer(reply: httpx.Response) -> tuple[int, object]:
    try:
        payload = reply.json()
    except ValueError:
        return reply.status_code, reply.text
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k not in VOLATILE}
    return reply.status_code, payload


async def test_fake_host_answers_malformed_bodies_as_open_webui(owui, owui_function):
    fid = owui_function("plain_pipe.py")
    config = prepare_config(
        HostConfig(functions=[FunctionSpec(path=str(PIPES / "plain_pipe.py"), function_id=fid)])
    )
    headers = {"Content-Type": "application/json"}
    with LoopbackServer(create_app(config)) as fake:
        async with (
            httpx.AsyncClient(
                base_url=owui.base_url, headers=owui.headers, timeout=60
            ) as real_http,
            httpx.AsyncClient(
                base_url=fake.url,
                headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
                timeout=60,
            ) as fake_http,
        ):
            differences = []
            for name, raw in bodies(fid).items():
                real = _answer(
                    await real_http.post("/api/chat/completions", content=raw, headers=headers)
                )
                mine = _answer(
                    await fake_http.post("/api/chat/completions", content=raw, headers=headers)
                )
                if real != mine:
                    differences.append(f"{name}: real {real!r}\n  fake {mine!r}")
    assert not differences, "\n".join(differences)
