"""The cassette format: round trips, the derived event view, validation errors, starter files."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cassettes.format import (
    Cassette,
    CassetteError,
    Interaction,
    RecordedRequest,
    dump_cassette,
    load_cassette,
    load_cassettes,
    parse_cassette,
    save_cassette,
    stream_response,
)
from simulator.cassettes.sse import decode_events
from simulator.openrouter.authoring import starter_cassettes

ROOT = Path(__file__).resolve().parents[2]
EMOJI = "👋".encode()


def _cassette() -> Cassette:
    chunks = [
        (0.05, b": OPENROUTER PROCESSING\n\n"),
        (
            0.5,
            b'data: {"type":"response.created","sequence_number":0}\n\ndata: {"type":"a","x":"'
            + EMOJI[:2],
        ),
        (0.6, EMOJI[2:] + b'"}\n\n'),
        (0.7, b"data: [DONE]\n\n"),
    ]
    response = stream_response(200, [("content-type", "text/event-stream")], chunks)
    request = RecordedRequest(method="POST", path="/api/v1/responses", body={"model": "m"})
    return Cassette(
        name="t", synthesised=False, interactions=[Interaction(request=request, response=response)]
    )


def test_round_trip_keeps_chunk_bytes_and_offsets(tmp_path: Path) -> None:
    original = _cassette()
    path = tmp_path / "c.yaml"
    save_cassette(original, path)
    loaded = load_cassette(path)
    assert loaded == original
    response = loaded.interactions[0].response
    # A chunk that cuts an emoji in half is not UTF-8: it is stored as base64 and survives.
    assert response.chunks[1].b64 is not None and response.chunks[0].text is not None
    assert [c.data for c in response.chunks] == [
        c.data for c in original.interactions[0].response.chunks
    ]


def test_event_view_has_raw_frames_labels_and_last_byte_offsets() -> None:
    events = _cassette().interactions[0].response.events
    assert [e.type for e in events] == ["comment", "response.created", "a", "done"]
    # The `a` event completes only when its second half arrives at 0.6.
    assert [e.offset for e in events] == [0.05, 0.5, 0.6, 0.7]
    assert events[2].data == b'data: {"type":"a","x":"' + EMOJI + b'"}\n\n'


def test_sse_text_is_readable_as_literal_block() -> None:
    text = dump_cassette(_cassette())
    assert "text: |+\n" in text and '{"type":"response.created"' in text


def test_events_only_shorthand_builds_one_chunk_per_event() -> None:
    text = """
name: hand
synthesised: true
interactions:
- request: {method: POST, path: /api/v1/responses, body: {model: m}}
  response:
    status: 200
    headers: [[content-type, text/event-stream]]
    events:
    - {offset: 0.1, text: "data: {\\"type\\":\\"x\\"}\\n\\n"}
    - {offset: 0.2, text: "data: [DONE]\\n\\n"}
"""
    response = parse_cassette(text).interactions[0].response
    assert [c.offset for c in response.chunks] == [0.1, 0.2]
    assert [e.type for e in response.events] == ["x", "done"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\ninteractions: []\n", "field `synthesised`: Field required"),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: nope}\n  response: {status: 200}\n",
            "interactions.0.request.path",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 999}\n",
            "interactions.0.response.status",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 200, chunks: [{offset: 1, text: a, b64: YQ==}]}\n",
            "exactly one of `text` or `b64`",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 200, chunks: [{offset: 1, b64: '!!'}]}\n",
            "not valid base64",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 200, chunks: [{offset: 2, text: a}, {offset: 1, text: b}]}\n",
            "goes back in time",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 200, chunks: [{offset: 1, text: a}], body: {}}\n",
            "either `chunks`/`events`",
        ),
        (
            "name: x\nsynthesised: true\ninteractions:\n- request: {method: POST, path: /a}\n  response: {status: 200, chunks: [{offset: 1, text: a}], events: [{offset: 1, text: b}]}\n",
            "do not add up",
        ),
        ("name: x\nsynthesised: true\nsurprise: 1\n", "field `surprise`"),
        ("- just\n- a list\n", "a cassette is a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_cassettes_name_the_file_and_the_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CassetteError) as info:
        load_cassette(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_missing_file_and_empty_directory_are_clear(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot read"):
        load_cassette(tmp_path / "absent.yaml")
    with pytest.raises(CassetteError, match=r"no \*\.yaml cassettes"):
        load_cassettes(tmp_path)


def _shape(cassette) -> list:
    """Event types (or the error body's code) and chunk count: what must not drift."""
    response = cassette.interactions[0].response
    if not response.is_stream:
        return [response.status, response.body["error"]["code"]]
    events = decode_events(response.raw_stream())
    return [len(response.chunks)] + [e if isinstance(e, str) else e["type"] for e in events]


def test_starter_cassettes_are_labelled_synthesised_and_match_the_authoring_script() -> None:
    """Regenerate with `python -m simulator.openrouter.authoring cassettes` when this fails.
    (Compared by shape, not bytes, so additive changes to synth.py's payloads do not break it.)"""
    committed = {c.name: c for c in load_cassettes(ROOT / "cassettes")}
    generated = starter_cassettes()
    assert sorted(committed) == sorted(c.name for c in generated)
    for cassette in generated:
        assert cassette.synthesised is True
        assert cassette.description.startswith("SYNTHESISED")
        assert committed[cassette.name].synthesised is True
        assert _shape(committed[cassette.name]) == _shape(cassette), cassette.name
        assert committed[cassette.name].interactions[0].request == cassette.interactions[0].request


def test_starter_streams_start_with_keepalives_and_end_with_done() -> None:
    for cassette in load_cassettes(ROOT / "cassettes"):
        response = cassette.interactions[0].response
        if not response.is_stream:
            assert response.status >= 400 and isinstance(response.body, dict)
            continue
        labels = [e.type for e in response.events]
        assert labels[:2] == ["comment", "comment"] and labels[-1] == "done", cassette.name
        assert response.header("x-generation-id"), cassette.name
        sequence = [e for e in labels if e not in {"comment", "done"}]
        assert sequence[0] == "response.created", cassette.name
