"""Conversation state in the real Open WebUI 0.12.4: the exported pipe, a workspace tool, two
turns of one chat through the browser path. Turn 2's upstream request must carry turn 1's
reasoning item (its id and encrypted_content, verified by the fake OpenRouter) and the tool
call/output pair, from rows kept in Open WebUI's own database: its default SQLite, and
PostgreSQL when Open WebUI itself runs on it. No valve besides the upstream and its key.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from simulator.export import export_function

# Starting Open WebUI (twice: on SQLite, then on PostgreSQL) takes a while on a busy machine.
pytestmark = [pytest.mark.openwebui, pytest.mark.timeout(600)]

WEATHER_TOOLS = Path(__file__).parent / "files" / "weather_tools.py"
ASK = "Weather in Paris?"
FOLLOW_UP = "Do I need an umbrella?"
TURN_1 = [
    {
        "script": {
            "seed": "persist-1",
            "reasoning": "The user wants the weather in Paris; call the tool.",
            "encrypted_reasoning": True,
            "function_calls": [
                {"name": "get_weather", "arguments": {"city": "Paris"}, "call_id": "call_w1"}
            ],
        }
    },
    {"script": {"seed": "persist-2", "text": "It is sunny in Paris."}},
]
TURN_2 = [{"script": {"seed": "persist-3", "text": "No umbrella needed."}}]


def _kinds(body: dict[str, Any]) -> list[str]:
    out = []
    for item in body["input"]:
        kind = item.get("type", "message")
        out.append(f"message:{item.get('role')}" if kind == "message" else kind)
    return out


async def _two_turns(owui: Any, sim: Any, tmp_path: Path, tag: str) -> dict[str, Any]:
    function = export_function(tmp_path / "openrouter_responses_pipe.py")
    function_id = f"persist_{tag}"
    owui.create_function(
        function, id=function_id, valves={"BASE_URL": sim.base_url, "API_KEY": sim.api_key}
    )
    tool_id = f"weather_{tag}"
    owui.create_tool(WEATHER_TOOLS, id=tool_id)
    model = f"{function_id}.openai.o4-mini"
    try:
        async with owui.events() as capture:
            sim.enqueue(*TURN_1)
            first = await owui.ui_chat(
                capture, model, [{"role": "user", "content": ASK}], tool_ids=[tool_id]
            )
            stored = first.message["content"]
            assert stored.startswith("It is sunny in Paris.")
            assert stored.count("[or:") == 3, stored  # reasoning, call, output
            round_2 = sim.requests_to("/responses")[-1]["body"]
            reasoning = next(i for i in round_2["input"] if i["type"] == "reasoning")

            sim.enqueue(*TURN_2)
            history = [
                {"role": "user", "content": ASK},
                {"role": "assistant", "content": stored},
                {"role": "user", "content": FOLLOW_UP},
            ]
            # A follow-up in the same chat: Open WebUI rebuilds the history from its database
            # (the stored output items, markers included), following parent ids.
            await owui.ui_chat(
                capture,
                model,
                history,
                tool_ids=[tool_id],
                chat_id=first.chat_id,
                parent_id=first.message_id,
                user_message={
                    "id": str(uuid.uuid4()),
                    "role": "user",
                    "content": FOLLOW_UP,
                    "parentId": first.message_id,
                    "childrenIds": [],
                    "timestamp": int(time.time()),
                },
            )
        second = sim.requests_to("/responses")[-1]["body"]
    finally:
        owui.delete_function(function_id)
        owui.delete_tool(tool_id)
    assert _kinds(second) == [
        "message:user",
        "reasoning",
        "function_call",
        "function_call_output",
        "message:assistant",
        "message:user",
    ], second["input"]
    replayed = second["input"][1]
    assert replayed["id"] == reasoning["id"]
    assert replayed["encrypted_content"] == reasoning["encrypted_content"]
    assert second["input"][2]["call_id"] == second["input"][3]["call_id"] == "call_w1"
    assert second["input"][3]["output"] == "sunny, 21 °C in Paris"
    assert second["input"][4]["content"] == "It is sunny in Paris."
    assert "[or:" not in str(second)
    return second


async def test_two_turn_tool_chat_replays_from_open_webuis_sqlite(owui, openrouter_sim, tmp_path):
    await _two_turns(owui, openrouter_sim, tmp_path, "sqlite")
    # The rows live in Open WebUI's own database: no second database file.
    assert not (owui.data_dir / "openrouter_pipe.db").exists()
    with sqlite3.connect(owui.data_dir / "webui.db") as conn:
        counts = dict(
            conn.execute(
                "SELECT item_type, count(*) FROM openrouter_pipe_artifacts GROUP BY item_type"
            ).fetchall()
        )
        payloads = [
            bytes(p) for (p,) in conn.execute("SELECT payload FROM openrouter_pipe_artifacts")
        ]
    assert counts["reasoning"] >= 1 and counts["function_call"] >= 1
    assert counts["function_call_output"] >= 1
    assert not any(b"sunny" in p or b"get_weather" in p for p in payloads)  # encrypted


@pytest.fixture(scope="module")
def owui_on_postgres(postgres_server):
    """A second real Open WebUI whose own DATABASE_URL is the PostgreSQL server."""
    from simulator.owui_live.instance import OpenWebUI
    from tests.openwebui.conftest import skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    url = postgres_server.create_database("owui_persistence")
    # Open WebUI's venv has psycopg 3 only (no psycopg2): name the driver, as its docs advise.
    owui_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    with OpenWebUI.start(env={"DATABASE_URL": owui_url}) as instance:
        instance.database_url = url
        yield instance


async def test_two_turn_tool_chat_replays_with_open_webui_on_postgresql(
    owui_on_postgres, openrouter_sim, tmp_path
):
    import psycopg

    await _two_turns(owui_on_postgres, openrouter_sim, tmp_path, "pg")
    assert not (owui_on_postgres.data_dir / "openrouter_pipe.db").exists()
    with psycopg.connect(owui_on_postgres.database_url) as conn:
        counts = dict(
            conn.execute(
                "SELECT item_type, count(*) FROM openrouter_pipe_artifacts GROUP BY item_type"
            ).fetchall()
        )
    assert counts == {"reasoning": 1, "function_call": 1, "function_call_output": 1}
