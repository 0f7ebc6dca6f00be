"""A chat client that goes away mid-answer, and the wait for the upstream to follow."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from typing import Any

CLOSE_DEADLINE = 1.0  # seconds: what the issue asks of every way a consumer can go away


def disconnect_after_three_chunks(
    url: str, headers: dict[str, str], body: dict[str, Any], rst: bool
) -> bool:
    """POST a streamed chat, read three `data:` lines and close the socket (FIN, or RST when
    `rst`). Returns False when the host answered something else (e.g. the 'busy' message)."""
    host, port = url.removeprefix("http://").split(":")
    raw = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(
            b"POST /api/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + head.encode()
            + b"Content-Length: %d\r\n\r\n" % len(raw)
            + raw
        )
        got = b""
        while got.count(b"data:") < 3 and b"[DONE]" not in got:
            data = sock.recv(65536)
            if not data:
                break
            got += data
        if rst:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return b"Server busy" not in got and b"[DONE]" not in got


async def upstream_closed(sim: Any, deadline: float = CLOSE_DEADLINE) -> float:
    """Seconds until the fake OpenRouter sends no answer any more (fails past `deadline`)."""
    start = time.monotonic()
    while sim.open_answers:
        if time.monotonic() - start > deadline:
            raise AssertionError(f"{sim.open_answers} upstream answer(s) still open")
        await asyncio.sleep(0.01)
    return time.monotonic() - start
