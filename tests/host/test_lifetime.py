"""The pipe in the fake Open WebUI host (`orsim serve-host`, the exported file) closes its
upstream answer within a second when an HTTP client disconnects mid-stream (FIN or RST), and
with MAX_CONCURRENT_REQUESTS=2 the fake OpenRouter never sees more than two answers at once.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from simulator.export import export_function
from tests.disconnecting_client import disconnect_after_three_chunks, upstream_closed

SLOW = {"script": {"text": " ".join(["word"] * 400)}, "tps": 20}  # ~20 s if read to the end


@pytest.mark.slow
async def test_fake_host_client_disconnects_close_the_upstream_and_the_limit_holds(
    openrouter_sim, serve_host, tmp_path
):
    function = export_function(tmp_path / "openrouter_responses_pipe.py")
    valves = {
        "BASE_URL": openrouter_sim.base_url,
        "API_KEY": openrouter_sim.api_key,
        "MAX_CONCURRENT_REQUESTS": 2,
        "REQUEST_QUEUE_SIZE": 0,
        "STREAM_COALESCE_MS": 0,
    }
    served = serve_host(
        "--function", str(function), "--function-id", "openrouter", "--valves", json.dumps(valves)
    )
    for _ in range(12):
        openrouter_sim.enqueue(SLOW)
    body = {
        "model": "openrouter.openai.gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    peak = 0
    streamed = 0
    for round_ in range(3):  # two at once (the limit), both disconnect, two more at once
        results = await asyncio.gather(
            *[
                asyncio.to_thread(
                    disconnect_after_three_chunks, served.url, served.headers, body, rst
                )
                for rst in (round_ % 2 == 0, round_ % 2 == 1)
            ]
        )
        streamed += sum(results)
        peak = max(peak, openrouter_sim.open_answers)
        await upstream_closed(openrouter_sim)
    assert streamed >= 4  # most chats ran; a 'busy' answer is allowed while a slot is closing
    assert peak <= 2
    assert openrouter_sim.state.peak_open_answers <= 2
