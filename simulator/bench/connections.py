"""`orsim bench connections`: how many upstream TCP connections the pipe opens over many chats.

The fake Open WebUI host (over HTTP, loading the exported pipe) and the fake OpenRouter run on
loopback in this process; N sequential streamed chats go through the host, and the fake counts
the connections it accepted. A pipe that reads each stream to its end reuses one keep-alive
connection (against real OpenRouter: one TCP and TLS handshake in all, not one per chat).
Target: at most a handful (`MAX_CONNECTIONS`) whatever N is.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from simulator.export import export_function
from simulator.host.server import (
    DEFAULT_TOKEN,
    FunctionSpec,
    HostConfig,
    create_app,
    prepare_config,
)
from simulator.net import LoopbackServer
from simulator.openrouter.server import SimServer

MAX_CONNECTIONS = 4
FUNCTION_ID = "openrouter"


def run(chats: int, words: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, SimServer() as sim:
        function = export_function(Path(tmp) / "openrouter_responses_pipe.py")
        config = HostConfig(
            functions=[FunctionSpec(path=str(function), function_id=FUNCTION_ID)],
            initial_valves={FUNCTION_ID: {"BASE_URL": sim.base_url, "API_KEY": sim.api_key}},
        )
        text = " ".join(["word"] * words)
        sim.enqueue(*[{"script": {"text": text}} for _ in range(chats)])
        failed = 0
        with LoopbackServer(create_app(prepare_config(config))) as host:
            headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
            started = time.perf_counter()
            with httpx.Client(base_url=host.url, headers=headers, timeout=60) as client:
                for n in range(chats):
                    body = {
                        "model": f"{FUNCTION_ID}.openai.gpt-4o-mini",
                        "stream": True,
                        "messages": [{"role": "user", "content": f"chat {n}"}],
                    }
                    reply = client.post("/api/chat/completions", json=body)
                    if reply.status_code != 200 or text.split()[0] not in reply.text:
                        failed += 1
            seconds = time.perf_counter() - started
        return {
            "chats": chats,
            "failed": failed,
            "upstream_connections_opened": sim.connections_opened,
            "connections_per_chat": sim.connections_opened / chats if chats else 0.0,
            "seconds": seconds,
            "chats_per_second": chats / seconds if seconds else 0.0,
        }


def cli_main(chats: int, words: int, json_out: str | None) -> int:
    result = run(chats, words)
    print(
        f"{result['chats']} sequential streamed chats through the fake host "
        f"({result['failed']} failed) in {result['seconds']:.1f} s "
        f"({result['chats_per_second']:.0f} chats/s)"
    )
    print(
        f"upstream TCP connections opened: {result['upstream_connections_opened']} "
        f"({result['connections_per_chat']:.4f} per chat; target <= {MAX_CONNECTIONS} in all)"
    )
    ok = result["failed"] == 0 and result["upstream_connections_opened"] <= MAX_CONNECTIONS
    print("target met" if ok else "TARGET MISSED")
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if ok else 1
