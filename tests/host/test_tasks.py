"""Background tasks: how a pipe is called for them and how the answer is parsed."""

from __future__ import annotations

import json

import pytest

from simulator.host.task_prompts import replace_messages
from simulator.host.tasks import UnknownTaskError, parse_task_output

CHAT = [
    {"role": "user", "content": "What's the weather in Oslo?"},
    {"role": "assistant", "content": "Cold and clear."},
]


async def test_title_is_parsed_between_the_first_and_last_brace(make_host):
    t = await make_host("task_pipe").task("title", messages=CHAT)
    assert t.task.task == "title_generation"
    assert t.task.value == "Weather Chat"
    assert t.response["object"] == "chat.completion"  # the pipe's str became a completion


async def test_reasoning_content_is_used_when_content_is_empty(make_host):
    t = await make_host("task_pipe").task("tags_generation", messages=CHAT)
    assert t.task.value == ["Weather", "Travel"]


async def test_follow_ups_are_capped_at_five_non_empty(make_host):
    t = await make_host("task_pipe").task("follow_up", messages=CHAT)
    assert t.task.value == ["a?", "b?", "c?", "d?", "e?"]


async def test_unparseable_answers(make_host):
    t = await make_host("task_pipe").task("queries", messages=CHAT)
    assert t.task.value is None and "not JSON" in t.task.error
    # A title falls back to the first user message.
    t = await make_host("instance_pipe").task("title", messages=CHAT)
    assert t.task.value == "What's the weather in Oslo?"


async def test_the_pipe_receives_a_one_message_non_streaming_body(make_host):
    t = await make_host("reserved_args_pipe").task("title", messages=CHAT, chat_id="c9")
    seen = json.loads(t.response["choices"][0]["message"]["content"])
    body = seen["body"]
    assert set(body) == {"model", "messages", "stream", "max_tokens"} and body["stream"] is False
    assert body["max_tokens"] == 1000  # Open WebUI's title limit when the model sets none
    [prompt] = body["messages"]
    assert prompt["role"] == "user"
    assert prompt["content"].startswith("### Task:\nGenerate a concise title summarizing")
    assert prompt["content"].endswith(
        "<chat_history>\nUSER: What's the weather in Oslo?\n"
        "ASSISTANT: Cold and clear.\n</chat_history>"
    )
    task, task_body = seen["task"]
    assert task == "title_generation"
    assert task_body == {"model": "reserved_args_pipe", "messages": CHAT, "chat_id": "c9"}
    # A direct task call carries only task, task_body and chat_id: no emitter, no caller.
    assert "__event_emitter__" not in seen["passed"] and "__event_call__" not in seen["passed"]
    assert seen["metadata"] == {"task": "title_generation", "task_body": task_body, "chat_id": "c9"}


async def test_a_task_inside_a_ui_turn_inherits_the_chat_metadata(make_host):
    host = make_host("reserved_args_pipe")
    turn = await host.chat(CHAT[:1], ui=True, stream=False, event_call_answers=[True, True])
    t = await host.task(
        "title", messages=CHAT, metadata=turn.metadata, chat_id=turn.metadata["chat_id"]
    )
    seen = json.loads(t.response["choices"][0]["message"]["content"])
    assert "__event_emitter__" in seen["passed"]
    assert seen["ids"][2] == turn.metadata["message_id"]


def test_unknown_task_names_are_rejected():
    with pytest.raises(UnknownTaskError, match="known:"):
        parse_task_output("summarise", "{}", CHAT)


def test_history_rendering_takes_the_last_n_messages_and_flattens_parts():
    msgs = [*CHAT, {"role": "user", "content": [{"type": "text", "text": "and Bergen?"}]}]
    assert (
        replace_messages("{{MESSAGES:END:2}}", msgs)
        == "ASSISTANT: Cold and clear.\nUSER: and Bergen?"
    )


def test_parse_accepts_a_plain_string_answer():
    assert parse_task_output("tags", 'x {"tags": ["a"]} y', CHAT).value == ["a"]
    result = parse_task_output("title", {"choices": []}, CHAT)
    assert result.value == CHAT[0]["content"] and result.error


@pytest.mark.parametrize(
    ("task", "limit", "opening"),
    [
        ("title", 1000, "### Task:\nGenerate a concise title"),
        ("tags", None, "### Task:\nGenerate 1-3 broad tags"),
        ("follow_up", None, "### Task:\nPredict 3-5 useful messages"),
        ("queries", None, "### Task:\nAnalyze the chat history to determine"),
    ],
)
async def test_each_task_type_gets_open_webuis_prompt_and_limit(make_host, task, limit, opening):
    t = await make_host("reserved_args_pipe").task(task, messages=CHAT)
    body = json.loads(t.response["choices"][0]["message"]["content"])["body"]
    assert body.get("max_tokens") == limit
    assert body["messages"][0]["content"].startswith(opening)
    assert "{{" not in body["messages"][0]["content"]  # every variable rendered
