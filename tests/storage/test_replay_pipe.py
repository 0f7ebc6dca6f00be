"""Turns that remember: the Pipe contract over loopback against the fake OpenRouter (which
verifies every replayed `encrypted_content`), with the artifact store on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pipe import Pipe
from pipe.markers import find_markers
from pipe.storage.database import Database, choose_target
from pipe.storage.store import ArtifactStore
from tests.pipe.helpers import Recorder, metadata, run_pipe, user
from tests.pipe.tool_helpers import CITY, call, owui_tools, script, sent

MODEL = "openrouter.openai.o4-mini"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WEBUI_SECRET_KEY", "test-webui-secret")
    return tmp_path


def bare_pipe(sim: Any, **valves: Any) -> Pipe:
    """Only what any install sets: the API key (and where OpenRouter is)."""
    pipe = Pipe()
    pipe.valves = Pipe.Valves(BASE_URL=sim.base_url, API_KEY=sim.api_key, **valves)
    return pipe


def body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, "stream": True, **extra}


async def weather(city: str) -> str:
    return f"sunny in {city}, 21 °C"


TOOLS = owui_tools(("get_weather", weather, CITY))


def tool_turn(sim: Any) -> None:
    sim.enqueue(
        script(
            reasoning="The user wants the weather; call the tool.",
            encrypted_reasoning=True,
            function_calls=[call("get_weather", {"city": "Paris"}, "call_w1")],
        ),
        script(text="It is sunny in Paris."),
    )


async def first_turn(sim: Any, pipe: Pipe, **kwargs: Any) -> tuple[list[dict], str]:
    tool_turn(sim)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    out = await run_pipe(pipe, body(messages), Recorder(), __tools__=TOOLS, **kwargs)
    return messages, out.raw_text


def follow_up(messages: list[dict], answer: str, ask: str = "?") -> list[dict]:
    """The next turn's history: the earlier messages, the answer as stored, a new question."""
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": ask}]


def kinds(request: dict[str, Any]) -> list[str]:
    return [i.get("type", "message") + ":" + str(i.get("role", "")) for i in request["input"]]


async def store_rows(data_dir: Path) -> dict[str, int]:
    db = Database(choose_target(f"sqlite:///{data_dir / 'openrouter_pipe.db'}"))
    try:
        return await ArtifactStore(db).counts()
    finally:
        await db.dispose()


async def test_second_turn_carries_reasoning_and_tool_pair_with_no_valves_set(
    openrouter_sim, data_dir
):
    pipe = bare_pipe(openrouter_sim)
    messages, answer = await first_turn(openrouter_sim, pipe)
    ids = find_markers(answer)
    assert answer.startswith("It is sunny in Paris.") and len(ids) == 3
    round2 = sent(openrouter_sim, -1)  # turn 1's tool round echoed the model's reasoning
    reasoning_item = next(i for i in round2["input"] if i["type"] == "reasoning")

    openrouter_sim.enqueue(script(text="Tomorrow too."))
    await run_pipe(
        pipe, body(follow_up(messages, answer, "And tomorrow?")), Recorder(), __tools__=TOOLS
    )
    second = sent(openrouter_sim, -1)
    assert kinds(second) == [
        "message:user",
        "reasoning:",
        "function_call:",
        "function_call_output:",
        "message:assistant",
        "message:user",
    ]
    replayed = second["input"][1]
    assert replayed["id"] == reasoning_item["id"]
    assert replayed["encrypted_content"] == reasoning_item["encrypted_content"]
    assert second["input"][2]["call_id"] == second["input"][3]["call_id"] == "call_w1"
    assert second["input"][3]["output"] == "sunny in Paris, 21 °C"
    assert second["input"][4]["content"] == "It is sunny in Paris."  # no marker text
    assert "[or:" not in str(second)
    assert await store_rows(data_dir) == {
        "reasoning": 1,
        "function_call": 1,
        "function_call_output": 1,
    }


async def test_reasoning_of_a_plain_turn_is_replayed_before_its_answer(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    openrouter_sim.enqueue(script(reasoning="hmm", encrypted_reasoning=True, text="Hi!"))
    out = await run_pipe(pipe, body([{"role": "user", "content": "Hello"}]), Recorder())
    openrouter_sim.enqueue(script(text="Fine."))
    history = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": out.raw_text},
        {"role": "user", "content": "How are you?"},
    ]
    await run_pipe(pipe, body(history), Recorder())
    assert kinds(sent(openrouter_sim)) == [
        "message:user",
        "reasoning:",
        "message:assistant",
        "message:user",
    ]


async def test_another_users_marker_loads_nothing_and_says_nothing(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    messages, answer = await first_turn(openrouter_sim, pipe)
    openrouter_sim.enqueue(script(text="ok"))
    rec = Recorder()
    mallory = {**user(), "id": "mallory"}
    forged = follow_up(messages, answer)
    await run_pipe(pipe, body(forged), rec, __user__=mallory)
    assert kinds(sent(openrouter_sim)) == ["message:user", "message:assistant", "message:user"]
    assert not [s for s in rec.statuses() if "earlier" in s.lower()]


async def test_edited_message_without_markers_replays_as_plain_text(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    messages, _ = await first_turn(openrouter_sim, pipe)
    openrouter_sim.enqueue(script(text="ok"))
    edited = [
        *messages,
        {"role": "assistant", "content": "It is rainy in Paris (edited)."},
        {"role": "user", "content": "?"},
    ]
    await run_pipe(pipe, body(edited), Recorder())
    second = sent(openrouter_sim)
    assert kinds(second) == ["message:user", "message:assistant", "message:user"]
    assert second["input"][1]["content"] == "It is rainy in Paris (edited)."


async def test_cloned_chat_of_the_same_user_still_replays(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    messages, answer = await first_turn(openrouter_sim, pipe)
    openrouter_sim.enqueue(script(text="ok"))
    clone = metadata(chat_id="chat-clone", message_id="msg-9")
    history = follow_up(messages, answer)
    await run_pipe(pipe, body(history), Recorder(), __metadata__=clone)
    assert "reasoning:" in kinds(sent(openrouter_sim))


async def test_wrong_key_answers_without_history_and_says_why(openrouter_sim, data_dir):
    messages, answer = await first_turn(openrouter_sim, bare_pipe(openrouter_sim))
    rotated = bare_pipe(openrouter_sim, ARTIFACT_ENCRYPTION_KEY="a-brand-new-key")
    # Switching to an explicit key keeps the WEBUI_SECRET_KEY rows readable...
    openrouter_sim.enqueue(script(text="ok"))
    history = follow_up(messages, answer)
    await run_pipe(rotated, body(history), Recorder())
    assert "reasoning:" in kinds(sent(openrouter_sim))
    # ...but a server whose secret changed cannot read them: it answers, and says why.
    await asyncio.sleep(0)
    stranger_env = {"WEBUI_SECRET_KEY": "a-different-install"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in stranger_env.items():
            mp.setenv(k, v)
        openrouter_sim.enqueue(script(text="still answering"))
        rec = Recorder()
        out = await run_pipe(bare_pipe(openrouter_sim), body(history), rec)
    assert out.text.startswith("still answering")
    assert kinds(sent(openrouter_sim)) == ["message:user", "message:assistant", "message:user"]
    assert any("key this server no longer has" in s for s in rec.statuses())
    assert sum((await store_rows(data_dir)).values()) == 3  # nothing deleted


async def test_database_down_still_answers_and_says_history_not_saved(openrouter_sim, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    pipe = bare_pipe(
        openrouter_sim, ARTIFACT_DATABASE_URL=f"sqlite:///{not_a_dir}/sub/artifacts.db"
    )
    openrouter_sim.enqueue(script(reasoning="r", encrypted_reasoning=True, text="Answer."))
    rec = Recorder()
    out = await run_pipe(pipe, body([{"role": "user", "content": "Hi"}]), rec)
    assert out.raw_text == "Answer." and out.finish_reason == "stop"
    assert any(s.startswith("History not saved") for s in rec.statuses())


async def test_two_turns_of_one_chat_at_once_both_save_and_replay(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    messages, answer = await first_turn(openrouter_sim, pipe)
    history = [*messages, {"role": "assistant", "content": answer}]
    openrouter_sim.enqueue(
        script(reasoning="a", encrypted_reasoning=True, text="A"),
        script(reasoning="b", encrypted_reasoning=True, text="B"),
    )
    outs = await asyncio.gather(
        run_pipe(pipe, body([*history, {"role": "user", "content": "one"}]), Recorder()),
        run_pipe(pipe, body([*history, {"role": "user", "content": "two"}]), Recorder()),
    )
    for request in sent(openrouter_sim, -2), sent(openrouter_sim, -1):
        assert kinds(request)[:4] == [
            "message:user",
            "reasoning:",
            "function_call:",
            "function_call_output:",
        ]
    assert all(len(o.markers) == 1 for o in outs)
    assert (await store_rows(data_dir))["reasoning"] == 3


async def test_next_reply_reasoning_is_deleted_after_it_was_replayed(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim, REASONING_RETENTION="next_reply")
    messages, answer = await first_turn(openrouter_sim, pipe)
    openrouter_sim.enqueue(script(text="ok"))
    history = follow_up(messages, answer)
    await run_pipe(pipe, body(history), Recorder())
    assert "reasoning:" in kinds(sent(openrouter_sim))
    assert await store_rows(data_dir) == {"function_call": 1, "function_call_output": 1}
    openrouter_sim.enqueue(script(text="ok"))
    await run_pipe(pipe, body(history), Recorder())  # the marker now points at nothing
    assert kinds(sent(openrouter_sim))[1:3] == ["function_call:", "function_call_output:"]


async def test_next_reply_reasoning_another_worker_replayed_is_not_replayed_from_memory(
    openrouter_sim, data_dir
):
    """This worker still holds turn 1's reasoning in memory; another worker replayed it (and
    deleted it): the next turn here must not send it again."""
    pipe = bare_pipe(openrouter_sim, REASONING_RETENTION="next_reply")
    messages, answer = await first_turn(openrouter_sim, pipe)
    db = Database(choose_target(f"sqlite:///{data_dir / 'openrouter_pipe.db'}"))
    try:
        store = ArtifactStore(db)
        reasoning = [r.id for r in await store.rows(item_type="reasoning")]
        assert len(reasoning) == 1
        await store.delete(reasoning)
    finally:
        await db.dispose()
    openrouter_sim.enqueue(script(text="ok"))
    await run_pipe(pipe, body(follow_up(messages, answer)), Recorder())
    assert kinds(sent(openrouter_sim))[1:3] == ["function_call:", "function_call_output:"]


async def test_disabled_retention_and_no_tool_results_store_nothing(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim, REASONING_RETENTION="disabled", PERSIST_TOOL_RESULTS=False)
    _, answer = await first_turn(openrouter_sim, pipe)
    assert find_markers(answer) == [] and answer == "It is sunny in Paris."


async def test_user_valve_turns_tool_results_off(openrouter_sim, data_dir):
    pipe = bare_pipe(openrouter_sim)
    _, answer = await first_turn(openrouter_sim, pipe, __user__=user(PERSIST_TOOL_RESULTS=False))
    assert len(find_markers(answer)) == 1  # the reasoning only
    assert await store_rows(data_dir) == {"reasoning": 1}


async def test_lost_reasoning_id_is_refused_by_the_fake_like_the_real_service(openrouter_sim):
    """Why replay keeps each reasoning item's id: the blob is bound to it."""
    from tests.pipe.helpers import make_pipe

    openrouter_sim.enqueue(script(reasoning="r", encrypted_reasoning=True, text="x"))
    await run_pipe(make_pipe(openrouter_sim), body([{"role": "user", "content": "hi"}]))
    import httpx

    blob = openrouter_sim.requests_to("/responses")  # the fake's own blob, via a fresh call
    assert blob  # the journal is there; now replay a blob under the wrong id
    from simulator.openrouter.sealing import seal

    payload = {
        "model": "openai/o4-mini",
        "input": [
            {"role": "user", "content": "hi"},
            {
                "type": "reasoning",
                "id": "rs_other",
                "summary": [],
                "encrypted_content": seal("rs_original", "r"),
            },
        ],
    }
    async with httpx.AsyncClient() as client:
        r = await client.post(
            openrouter_sim.base_url + "/responses",
            json=payload,
            headers={"Authorization": f"Bearer {openrouter_sim.api_key}"},
        )
    assert r.status_code == 400
    assert "did not match the target item id" in r.json()["error"]["message"]
    assert "invalid_encrypted_content" in r.json()["error"]["metadata"]["raw"]


async def test_second_turn_replays_from_postgresql(openrouter_sim, postgres_url):
    pipe = bare_pipe(openrouter_sim, ARTIFACT_DATABASE_URL=postgres_url)
    messages, answer = await first_turn(openrouter_sim, pipe)
    openrouter_sim.enqueue(script(text="ok"))
    history = follow_up(messages, answer)
    await run_pipe(pipe, body(history), Recorder())
    assert kinds(sent(openrouter_sim))[1:4] == [
        "reasoning:",
        "function_call:",
        "function_call_output:",
    ]


async def test_database_dying_mid_turn_costs_the_history_not_the_answer(openrouter_sim):
    """PostgreSQL stops while a tool runs (after the replay load, before the commit)."""
    from simulator.services.postgres import PostgresServer

    with PostgresServer() as pg:
        pipe = bare_pipe(openrouter_sim, ARTIFACT_DATABASE_URL=pg.create_database("mid"))
        messages, answer = await first_turn(openrouter_sim, pipe)

        async def stop_db(city: str) -> str:
            await asyncio.to_thread(pg.stop_accepting)
            return "cloudy"

        openrouter_sim.enqueue(
            script(
                reasoning="again",
                encrypted_reasoning=True,
                function_calls=[call("get_weather", {"city": "Rome"}, "call_w2")],
            ),
            script(text="Cloudy in Rome."),
        )
        history = follow_up(messages, answer, "And Rome?")
        rec = Recorder()
        out = await run_pipe(
            pipe, body(history), rec, __tools__=owui_tools(("get_weather", stop_db, CITY))
        )
        assert kinds(sent(openrouter_sim, -2))[1:4] == [  # the load happened while it was up
            "reasoning:",
            "function_call:",
            "function_call_output:",
        ]
        assert out.raw_text == "Cloudy in Rome." and out.finish_reason == "stop"  # no markers
        assert any(s.startswith("History not saved") for s in rec.statuses())
        pg.resume()
        openrouter_sim.enqueue(script(text="ok"))
        await run_pipe(pipe, body(history), Recorder())  # up again: turn 1 still replays
        assert "reasoning:" in kinds(sent(openrouter_sim))
