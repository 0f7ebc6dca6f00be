"""VCR.py replays our cassettes to a plain httpx client, with no server running."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import vcr
import yaml

from simulator.cassettes.format import load_cassette
from simulator.cassettes.sse import decode_events
from simulator.cassettes.vcr_export import OrsimPersister, to_vcr

ROOT = Path(__file__).resolve().parents[2]
URL = "https://openrouter.ai/api/v1/responses"


def _request_body(name: str) -> dict:
    return load_cassette(ROOT / "cassettes" / f"{name}.yaml").interactions[0].request.body


def _vcr() -> vcr.VCR:
    return vcr.VCR(record_mode="none", match_on=["method", "uri", "body"])


def test_exported_cassette_replays_a_stream_to_httpx(tmp_path: Path) -> None:
    cassette = load_cassette(ROOT / "cassettes" / "text-plain.yaml")
    path = tmp_path / "vcr.yaml"
    path.write_text(yaml.safe_dump(to_vcr(cassette), allow_unicode=True), encoding="utf-8")
    with _vcr().use_cassette(str(path)) as played, httpx.Client() as client:
        reply = client.post(URL, content=json.dumps(_request_body("text-plain")))
    assert played.play_count == 1
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.content == cassette.interactions[0].response.raw_stream()
    events = decode_events(reply.content)
    assert events[-1] == "[DONE]" and events[-2]["type"] == "response.completed"
    assert "café" in events[-2]["response"]["output_text"]


def test_persister_serves_our_yaml_directly_including_errors() -> None:
    recorder = _vcr()
    recorder.register_persister(OrsimPersister)
    with (
        recorder.use_cassette(str(ROOT / "cassettes" / "error-429.yaml")),
        httpx.Client() as client,
    ):
        reply = client.post(URL, content=json.dumps(_request_body("error-429")))
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "7"
    assert reply.json()["error"]["code"] == 429


def test_persister_refuses_unknown_requests_and_writing(tmp_path: Path) -> None:
    recorder = _vcr()
    recorder.register_persister(OrsimPersister)
    with (
        recorder.use_cassette(str(ROOT / "cassettes" / "text-plain.yaml")),
        httpx.Client() as client,
    ):
        with pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException):
            client.post(URL, content=b'{"model": "other"}')
    with pytest.raises(NotImplementedError, match="orsim record"):
        OrsimPersister.save_cassette(str(tmp_path / "x.yaml"), {}, None)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="synthesised"):
        OrsimPersister.load_cassette(str(bad), None)
