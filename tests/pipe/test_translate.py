"""Chat-completions body -> typed Responses request (pure translation rules)."""

from __future__ import annotations

import pytest

from pipe.model_info import CatalogSnapshot, parse_model
from pipe.translate import (
    Identity,
    TranslateOptions,
    TranslationError,
    build_request,
    messages_to_input,
    sanitize_metadata,
)

REASONER = parse_model(
    {
        "id": "openai/o4-mini",
        "supported_parameters": [
            "max_tokens",
            "reasoning",
            "tools",
            "tool_choice",
            "response_format",
            "temperature",
        ],
        "reasoning": {"mandatory": True, "supported_efforts": ["minimal", "low", "medium", "high"]},
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
    }
)
PLAIN = parse_model(
    {
        "id": "google/gemma-3-27b-it:free",
        "supported_parameters": ["max_tokens", "temperature", "top_p"],
        "pricing": {"prompt": "0", "completion": "0"},
    }
)


def dump(body, model=REASONER, **opts):
    req = build_request(
        body, model.slug if model else "x/y", model, TranslateOptions(**opts), Identity()
    )
    return req.model_dump(mode="json", exclude_none=True)


def test_roles_become_input_items_with_typed_parts():
    items = messages_to_input(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Dev note"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,AAA", "detail": "high"},
                    },
                    {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "mp3"}},
                    {
                        "type": "file",
                        "file": {
                            "filename": "a.pdf",
                            "file_data": "data:application/pdf;base64,AA",
                        },
                    },
                ],
            },
            {"role": "assistant", "content": "A cat."},
        ]
    )
    dumped = [i.model_dump(exclude_none=True) for i in items]
    assert dumped[0] == {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "Be brief."}],
    }
    assert dumped[1]["role"] == "developer"
    parts = dumped[2]["content"]
    assert parts[0] == {"type": "input_text", "text": "What is this?"}
    assert parts[1] == {
        "type": "input_image",
        "image_url": "data:image/png;base64,AAA",
        "detail": "high",
    }
    assert parts[2] == {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "mp3"}}
    assert parts[3]["type"] == "input_file" and parts[3]["filename"] == "a.pdf"
    assert dumped[3] == {"type": "message", "role": "assistant", "content": "A cat."}


def test_tool_calls_and_results_become_paired_items_and_orphans_are_dropped():
    items = messages_to_input(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    },
                    {
                        "id": "call_orphan",
                        "type": "function",
                        "function": {"name": "x", "arguments": "{}"},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12C"},
            {"role": "tool", "tool_call_id": "call_missing", "content": "lost"},
        ]
    )
    dumped = [i.model_dump(exclude_none=True) for i in items]
    assert [d["type"] for d in dumped] == ["message", "function_call", "function_call_output"]
    assert dumped[1] == {
        "type": "function_call",
        "id": "fc_call_1",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert dumped[2] == {"type": "function_call_output", "call_id": "call_1", "output": "12C"}


def test_no_messages_is_a_clear_error():
    with pytest.raises(TranslationError, match="no messages"):
        messages_to_input([])


def test_parameters_are_renamed_and_unsupported_ones_dropped():
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "temperature": "0.3",
        "top_p": 0.9,  # not supported by REASONER
        "seed": 1,  # not a Responses field at all
        "stop": ["x"],
        "reasoning_effort": "high",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
        },
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "stream_options": {"include_usage": True},
    }
    out = dump(body)
    assert out["max_output_tokens"] == 50
    assert out["temperature"] == 0.3
    assert (
        "top_p" not in out
        and "seed" not in out
        and "stop" not in out
        and "stream_options" not in out
    )
    assert out["reasoning"] == {"effort": "high", "summary": "auto"}
    assert out["include"] == ["reasoning.encrypted_content"]
    assert out["text"] == {
        "format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "strict": True}
    }
    assert out["tools"] == [
        {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}
    ]
    assert out["tool_choice"] == {"type": "function", "name": "f"}


def test_plain_model_gets_no_reasoning_no_tools_and_only_supported_params():
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "top_p": 0.5,
        "frequency_penalty": 1,
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    out = dump(body, model=PLAIN)
    assert out["top_p"] == 0.5
    assert (
        "frequency_penalty" not in out
        and "reasoning" not in out
        and "tools" not in out
        and "include" not in out
    )


def test_unknown_model_keeps_parameters():
    out = dump({"messages": [{"role": "user", "content": "hi"}], "top_p": 0.5}, model=None)
    assert out["top_p"] == 0.5


def test_effort_snaps_to_supported_and_summary_mode_disabled():
    out = dump(
        {"messages": [{"role": "user", "content": "hi"}]},
        reasoning_effort="xhigh",
        reasoning_summary="disabled",
    )
    assert out["reasoning"] == {"effort": "high"}


def test_effort_none_on_optional_reasoner_disables_reasoning():
    optional = parse_model(
        {"id": "a/b", "supported_parameters": ["reasoning"], "reasoning": {"mandatory": False}}
    )
    out = dump(
        {"messages": [{"role": "user", "content": "hi"}]}, model=optional, reasoning_effort="none"
    )
    assert out["reasoning"] == {"enabled": False} and "include" not in out
    mandatory = dump({"messages": [{"role": "user", "content": "hi"}]}, reasoning_effort="none")
    assert "reasoning" not in mandatory


def test_task_request_is_low_effort_no_tools_no_summary_no_include():
    body = {
        "messages": [{"role": "user", "content": "title?"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    out = dump(body, task=True, stream=False)
    assert out["reasoning"] == {"effort": "low"}
    assert "tools" not in out and "include" not in out and out["stream"] is False


def test_identifier_valves_and_metadata_limits():
    who = Identity(user_id="u" * 300, session_id="s1", chat_id="c1", message_id="m1")
    req = build_request(
        {"messages": [{"role": "user", "content": "hi"}]},
        PLAIN.slug,
        PLAIN,
        TranslateOptions(
            send_user_id=True, send_session_id=True, send_chat_id=True, send_message_id=True
        ),
        who,
    )
    assert req.user == "u" * 256
    assert req.session_id == "s1"
    assert req.metadata == {
        "user_id": "u" * 300,
        "session_id": "s1",
        "chat_id": "c1",
        "message_id": "m1",
    }
    none = build_request(
        {"messages": [{"role": "user", "content": "hi"}]},
        PLAIN.slug,
        PLAIN,
        TranslateOptions(),
        who,
    )
    assert none.user is None and none.session_id is None and none.metadata is None


def test_sanitize_metadata_limits():
    raw = {f"k[{i}]": "v" * 600 for i in range(20)}
    out = sanitize_metadata(raw | {"x" * 100: "y"})
    assert len(out) == 16
    assert all("[" not in k and "]" not in k and len(k) <= 64 for k in out)
    assert all(len(v) <= 512 for v in out.values())


def test_outbound_allowlist_rejects_unknown_fields():
    from pipe.wire import ResponsesRequest

    with pytest.raises(ValueError):
        ResponsesRequest(model="a/b", input=[], transforms=["middle-out"])


def test_catalog_ids_round_trip_exactly_for_dated_and_undated():
    snap = CatalogSnapshot.from_payload(
        {
            "data": [
                {"id": "openai/gpt-4o"},
                {"id": "openai/gpt-4o-2024-11-20"},
                {"id": "openai/gpt-oss-20b:free"},
                {"id": "~anthropic/claude-sonnet-latest"},
            ]
        }
    )
    for slug in (
        "openai/gpt-4o",
        "openai/gpt-4o-2024-11-20",
        "openai/gpt-oss-20b:free",
        "~anthropic/claude-sonnet-latest",
    ):
        info = snap.by_slug[slug]
        assert snap.resolve(info.sub_id).slug == slug
    assert snap.resolve("openai.gpt-4o").slug == "openai/gpt-4o"
    assert snap.resolve("openai.gpt-4o-2024-11-20").slug == "openai/gpt-4o-2024-11-20"


def test_capabilities_and_parameter_mapping():
    info = parse_model(
        {
            "id": "x/vision",
            "supported_parameters": [
                "max_tokens",
                "structured_outputs",
                "include_reasoning",
                "tools",
            ],
            "architecture": {"input_modalities": ["text", "image", "audio", "file"]},
            "pricing": {"prompt": "0.1", "completion": "0.1", "web_search": "0.01"},
            "top_provider": {"max_completion_tokens": 4096},
        }
    )
    assert (
        info.vision
        and info.audio_input
        and info.file_input
        and info.web_search
        and info.tools
        and info.reasoning
    )
    assert info.max_output_tokens == 4096 and not info.free
    assert info.supported == frozenset({"max_output_tokens", "text", "reasoning", "tools"})


def test_bad_catalog_payloads_are_errors():
    for payload in ({}, {"data": []}, {"data": [{"name": "no id"}]}, []):
        with pytest.raises(ValueError):
            CatalogSnapshot.from_payload(payload)
