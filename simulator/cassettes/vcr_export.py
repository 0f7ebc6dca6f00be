"""VCR.py interop: export a cassette to vcrpy's cassette shape, or let vcrpy read ours directly.

vcrpy replays bodies buffered (no chunk boundaries, no timing): a streamed interaction becomes
one body holding the concatenated raw SSE bytes. Two ways in:

* `to_vcr(cassette, base_url)` -> the dict vcrpy writes as YAML (`version`, `interactions`);
  dump it with `yaml.safe_dump` next to your vcrpy cassettes.
* `OrsimPersister`: `my_vcr.register_persister(OrsimPersister)` and then
  `my_vcr.use_cassette("cassettes/text-plain.yaml", record_mode="none")` serves our YAML file
  as is. Recording through vcrpy is refused: record with `orsim record`.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

from simulator.cassettes.format import Cassette, CassetteError, load_cassette
from simulator.cassettes.player import HOP_BY_HOP

DEFAULT_BASE_URL = "https://openrouter.ai"
VCR_FORMAT_VERSION = 1


def _headers(items: list[tuple[str, str]] | dict[str, str]) -> dict[str, list[str]]:
    pairs = items.items() if isinstance(items, dict) else items
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def to_vcr(cassette: Cassette, base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """vcrpy's cassette dict for `cassette`; request URIs are `base_url` + recorded path."""
    interactions = []
    for interaction in cassette.interactions:
        request, response = interaction.request, interaction.response
        body = request.body
        request_body = None if body is None else body if isinstance(body, str) else json.dumps(body)
        if response.is_stream:
            payload = response.raw_stream().decode("utf-8", errors="replace")
        elif response.body is None:
            payload = ""
        else:
            payload = json.dumps(response.body, ensure_ascii=False)
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        interactions.append(
            {
                "request": {
                    "method": request.method.upper(),
                    "uri": base_url.rstrip("/") + request.path,
                    "body": request_body,
                    "headers": _headers(request.headers),
                },
                "response": {
                    "status": {"code": response.status, "message": reason},
                    "headers": _headers(headers),
                    "body": {"string": payload},
                },
            }
        )
    return {"version": VCR_FORMAT_VERSION, "interactions": interactions}


class OrsimPersister:
    """A vcrpy persister that reads orsim cassettes (register with `register_persister`)."""

    base_url = DEFAULT_BASE_URL

    @classmethod
    def load_cassette(cls, cassette_path: str, serializer: Any) -> tuple[list, list]:
        from vcr.persisters.filesystem import CassetteNotFoundError
        from vcr.request import Request
        from vcr.serializers import compat

        if not Path(cassette_path).is_file():
            raise CassetteNotFoundError(cassette_path)
        try:
            data = to_vcr(load_cassette(cassette_path), cls.base_url)
        except CassetteError as exc:
            raise ValueError(str(exc)) from None
        requests = [Request._from_dict(i["request"]) for i in data["interactions"]]
        responses = [compat.convert_to_bytes(i["response"]) for i in data["interactions"]]
        return requests, responses

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        raise NotImplementedError(
            f"{cassette_path}: vcrpy cannot write orsim cassettes; record with `orsim record` "
            "(use record_mode='none' with OrsimPersister)"
        )
