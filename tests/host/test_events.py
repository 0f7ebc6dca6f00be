"""Emitter and event caller (`__event_emitter__`, `__event_call__`)."""

from __future__ import annotations

ASK = [{"role": "user", "content": "go"}]


async def test_emitted_events_are_recorded_in_order_and_reduced(make_host):
    t = await make_host("events_pipe").chat(ASK, ui=True, event_call_answers=[True, "Ada"])
    assert [e["type"] for e in t.events] == [
        "status",
        "citation",
        "source",
        "notification",
        "status",
        "chat:message:delta",
    ]
    m = t.message
    assert m.content == "confirmed=True name=Ada"
    assert [s["description"] for s in m.status_history] == ["Searching", "Done"]
    assert [s["source"]["name"] for s in m.sources] == ["Doc A", "Doc B"]
    assert m.notifications == [{"type": "info", "content": "heads up"}]
    # The delta event showed live, but the stored content is the streamed text.
    assert m.emitted_content == " (extra)"  # emitted before the returned text streamed


async def test_events_interleave_with_chunks_in_arrival_order(make_host):
    t = await make_host("echo_pipe").chat(ASK)
    kinds = [kind if kind != "event" else item["data"]["description"] for kind, item in t.timeline]
    assert kinds[0] == "thinking..." and kinds[-1] == "chunk"
    assert "done" in kinds and kinds.index("done") > kinds.index("chunk")


async def test_event_calls_get_scripted_answers_and_are_recorded(make_host):
    t = await make_host("events_pipe").chat(ASK, ui=True, event_call_answers=[False, False])
    assert t.message.content == "confirmed=False name=False"
    assert [c.event["type"] for c in t.event_calls] == ["confirmation", "input"]
    assert [c.answer for c in t.event_calls] == [False, False]
    assert t.event_calls[1].event["data"]["placeholder"] == "name"


async def test_event_call_answers_can_be_a_function(make_host):
    def answer(event):
        return event["type"] == "confirmation" or "typed"

    t = await make_host("events_pipe").chat(ASK, ui=True, event_call_answers=answer)
    assert t.message.content == "confirmed=True name=typed"


async def test_async_answer_function(make_host):
    async def answer(event):
        return "yes"

    t = await make_host("events_pipe").chat(ASK, ui=True, event_call_answers=answer)
    assert t.message.content == "confirmed=yes name=yes"


async def test_exhausted_script_answers_like_a_timeout(make_host):
    t = await make_host("events_pipe").chat(ASK, ui=True, event_call_answers=[True])
    assert t.event_calls[1].answer["error"].startswith("Event call timed out")


async def test_api_path_caller_reports_a_disconnected_session(make_host):
    t = await make_host("events_pipe").chat(ASK, event_call_answers=[True, "x"])
    assert t.event_calls[0].answer == {"error": "Client session disconnected."}
    # The emitter still works on the API path (real Open WebUI sends to the user's room).
    assert t.events[0]["type"] == "status"


async def test_recorded_events_are_snapshots(make_host):
    t = await make_host("echo_pipe").chat(ASK)
    assert t.events == [
        {"type": "status", "data": {"description": "thinking...", "done": False}},
        {"type": "status", "data": {"description": "done", "done": True}},
    ]


async def test_ui_mode_ids(make_host):
    t = await make_host("echo_pipe").chat(ASK, ui=True)
    assert t.metadata["chat_id"] and t.metadata["message_id"] and t.metadata["session_id"]
    api = await make_host("echo_pipe").chat(ASK)
    assert (api.metadata["chat_id"], api.metadata["message_id"], api.metadata["session_id"]) == (
        "",
        None,
        None,
    )
