"""Reducing stream + events into the message a user sees."""

from __future__ import annotations

import pytest

from simulator.host.reduce import Reducer, SSEParser, host_events, parse_sse, reduce_timeline
from simulator.host.usage import merge_usage, normalize_usage


def delta(**d):
    return {"choices": [{"index": 0, "delta": d, "finish_reason": None}]}


def reduce_chunks(*chunks, **kwargs):
    return reduce_timeline([("chunk", c) for c in chunks], **kwargs)


def test_sse_parser_handles_arbitrary_boundaries_and_done_without_newline():
    raw = 'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: not json\n\ndata: [DONE]'
    whole = parse_sse(raw)
    assert whole == [{"a": 1}, {"b": 2}, "not json", "[DONE]"]
    parser = SSEParser()
    pieces = []
    for i in range(0, len(raw), 3):
        pieces += parser.feed(raw[i : i + 3].encode())
    assert pieces + parser.close() == whole


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning", "thinking"])
def test_reasoning_aliases(key):
    m = reduce_chunks(delta(**{key: "hmm "}), delta(**{key: "ok"}), delta(content="A"))
    assert m.reasoning == "hmm ok" and m.content == "A"


def test_inline_think_tags_split_reasoning_from_content_across_chunks():
    m = reduce_chunks(delta(content="<thi"), delta(content="nk>step</think>"), delta(content="X"))
    assert m.reasoning == "step" and m.content == "X"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("<thinking>", "</thinking>"),
        ("<reason>", "</reason>"),
        ("<|begin_of_thought|>", "<|end_of_thought|>"),
        ("◁think▷", "◁/think▷"),
    ],
)
def test_default_reasoning_tag_pairs(start, end):
    m = reduce_chunks(delta(content=f"{start}r{end}answer"))
    assert (m.reasoning, m.content) == ("r", "answer")


def test_reasoning_tags_off_or_custom():
    assert reduce_chunks(delta(content="<think>r</think>a"), reasoning_tags=False).content == (
        "<think>r</think>a"
    )
    m = reduce_chunks(delta(content="[[r]]a"), reasoning_tags=["[[", "]]"])
    assert (m.reasoning, m.content) == ("r", "a")


def test_unclosed_tag_keeps_streaming_reasoning():
    assert reduce_chunks(delta(content="<think>still")).reasoning == "still"


def test_tool_call_deltas_are_merged_by_index():
    m = reduce_chunks(
        delta(tool_calls=[{"index": 0, "id": "c1", "function": {"name": "add", "arguments": ""}}]),
        delta(tool_calls=[{"index": 0, "function": {"arguments": '{"a":'}}]),
        delta(
            tool_calls=[
                {"index": 0, "function": {"arguments": "1}"}},
                {"index": 1, "id": "c2", "function": {"name": "b", "arguments": "{}"}},
            ]
        ),
    )
    assert m.tool_calls == [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1}'}},
        {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
    ]


def test_usage_is_normalised_and_merged_like_open_webui():
    m = reduce_chunks({"usage": {"prompt_tokens": 3, "completion_tokens": 5}, "choices": []})
    assert m.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 5,
        "input_tokens": 3,
        "output_tokens": 5,
        "total_tokens": 8,
    }
    merged = merge_usage(
        {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.5},
        {"prompt_tokens": 2, "completion_tokens": 3, "cost": 0.25},
    )
    assert merged["input_tokens"] == 3 and merged["output_tokens"] == 4
    assert merged["cost"] == 0.75 and merged["prompt_tokens"] == 2
    assert normalize_usage({}) == {}


def test_error_without_choices():
    assert reduce_chunks({"error": {"detail": "boom"}}).error == "boom"
    assert reduce_chunks({"error": {"message": "rate"}}).error == "rate"
    assert reduce_chunks({"error": "plain"}).error == "plain"


def test_event_carriers_and_annotations_and_images():
    m = reduce_chunks(
        {"event": {"type": "status", "data": {"description": "s", "done": True}}},
        delta(
            annotations=[
                {"type": "url_citation", "url_citation": {"url": "https://u", "title": "T"}}
            ]
        ),
        delta(images=[{"type": "image_url", "image_url": {"url": "data:image/png;base64,x"}}]),
        {"selected_model_id": "m2", "choices": []},
    )
    assert m.status_history == [{"description": "s", "done": True}]
    assert m.sources == [
        {
            "source": {"name": "T", "url": "https://u"},
            "document": ["T"],
            "metadata": [{"source": "https://u", "name": "T"}],
        }
    ]
    assert m.files == [{"type": "image", "url": "data:image/png;base64,x"}]
    assert m.selected_model_id == "m2"


def test_host_events_are_not_derived_twice_on_the_ui_path():
    chunk = delta(annotations=[{"type": "url_citation", "url_citation": {"url": "u"}}])
    [event] = host_events(chunk)
    m = reduce_timeline([("chunk", chunk), ("event", event)], derive_host_events=False)
    assert len(m.sources) == 1


def test_emitter_events():
    events = [
        {"type": "status", "data": {"description": "a", "done": False}},
        {"type": "citation", "data": {"source": {"name": "A"}, "document": ["x"]}},
        {"type": "source", "data": {"source": {"name": "B"}, "document": ["y"]}},
        {"type": "notification", "data": {"type": "info", "content": "n"}},
        {"type": "message", "data": {"content": "live "}},
        {"type": "chat:message:delta", "data": {"content": "text"}},
        {"type": "files", "data": {"files": [{"type": "file", "url": "/f"}]}},
        {"type": "embeds", "data": {"embeds": ["<b>1</b>"]}},
        {"type": "chat:message:embeds", "data": {"embeds": ["<b>2</b>"], "replace": True}},
        {"type": "chat:message:follow_ups", "data": {"follow_ups": ["q?"]}},
        {"type": "chat:title", "data": "Title"},
        {"type": "chat:completion", "data": {"usage": {"total_tokens": 2}, "done": True}},
        {"type": "custom:thing", "data": {"anything": 1}},
    ]
    m = reduce_timeline([("event", e) for e in events])
    assert [s["description"] for s in m.status_history] == ["a"]
    assert [s["source"]["name"] for s in m.sources] == ["A", "B"]
    assert m.notifications == [{"type": "info", "content": "n"}]
    assert m.emitted_content == "live text"
    assert m.content == ""  # the final save keeps only the streamed text
    assert m.files == [{"type": "file", "url": "/f"}]
    assert m.embeds == ["<b>2</b>"]
    assert m.follow_ups == ["q?"] and m.title == "Title"
    assert m.usage == {"total_tokens": 2} and m.done


def test_replace_and_message_error_events():
    m = reduce_timeline(
        [
            ("chunk", delta(content="streamed")),
            ("event", {"type": "replace", "data": {"content": "replaced"}}),
            ("event", {"type": "chat:message:error", "data": {"error": {"content": "bad"}}}),
        ]
    )
    assert m.content == "streamed" and m.emitted_content == "replaced" and m.error == "bad"


def test_completion_answers():
    r = Reducer()
    r.completion(
        {
            "choices": [{"message": {"content": "<think>r</think>x", "tool_calls": [{"id": "1"}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }
    )
    m = r.result()
    assert (m.content, m.reasoning, m.tool_calls) == ("x", "r", [{"id": "1"}])
    assert m.usage["total_tokens"] == 3
    r = Reducer()
    r.completion({"choices": [{"message": {"content": "", "reasoning_content": "only"}}]})
    assert r.result().reasoning == "only"
    r = Reducer()
    r.completion({"detail": "bad request"})
    assert r.result().error == "bad request"


def test_failed_stream_keeps_no_content():
    m = reduce_timeline([("chunk", delta(content="partial")), ("failed", "x")])
    assert m.content == ""
