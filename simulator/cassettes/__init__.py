"""Cassettes: the format, replay (chunking plans, matching, the player), redaction, the
recording proxy and VCR.py interop. See docs/cassettes.md.

The main names are importable from here lazily, so importing `simulator.cassettes.played` (as the
fake server does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Cassette": "format",
    "CassetteError": "format",
    "load_cassette": "format",
    "load_cassettes": "format",
    "save_cassette": "format",
    "CassettePlayer": "player",
    "NoMatchError": "matching",
    "RecordingProxy": "recorder",
    "to_vcr": "vcr_export",
    "OrsimPersister": "vcr_export",
    "plan_chunks": "chunking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simulator.cassettes' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simulator.cassettes.{_EXPORTS[name]}"), name)
