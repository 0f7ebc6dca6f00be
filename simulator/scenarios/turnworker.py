"""One worker process of `orsim run --workers K` (simulator/scenarios/fleet.py).

Connects back to the runner (address in argv, auth key in ORSIM_TURNWORKER_KEY) and plays what
it is told: `open` a scenario (load the function with its valves and tools), `play` turn N from
the history the runner sends, `close` (the pipe's runtimes close and drain), `stop`. The
event loop keeps running between messages, so the pipe's background work (the write-behind
flusher) runs as it would in an Open WebUI worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pickle
import sys
import traceback
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from simulator.scenarios.model import Scenario
from simulator.scenarios.play import ScenarioHost


def portable(value: Any) -> Any:
    """`value` as something pickle can carry: what the pipe received holds tool callables and
    other live objects; those travel as their repr (checks never look at them)."""
    try:
        pickle.dumps(value)
        return value
    except Exception:
        pass
    if isinstance(value, dict):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(portable(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: portable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)
    return repr(value)


async def serve(conn: Connection) -> None:
    host: ScenarioHost | None = None
    while True:
        message = await asyncio.to_thread(conn.recv)
        op = message[0]
        if op == "stop":
            break
        reply: tuple[str, Any]
        try:
            if op == "open":
                if host is not None:
                    await host.aclose()
                scenario = Scenario.model_validate_json(message[1])
                host = ScenarioHost(Path(message[3]), scenario, message[2])
                await host.model_id(scenario.model)
                reply = ("ok", os.getpid())
            elif op == "play":
                assert host is not None, "play before open"
                turn = host.scenario.turns[message[1]]
                transcripts = await host.play(turn, message[2], message[3])
                reply = ("ok", (os.getpid(), [portable(t) for t in transcripts]))
            elif op == "close":
                if host is not None:
                    await host.aclose()
                host = None
                reply = ("ok", None)
            else:
                reply = ("error", f"unknown request {op!r}")
        except Exception:
            reply = ("error", traceback.format_exc(limit=8))
        try:
            conn.send(reply)
        except Exception as exc:  # an answer that cannot travel is the scenario's failure
            conn.send(("error", f"could not send the result: {type(exc).__name__}: {exc}"))
    if host is not None:
        await host.aclose()


def main(argv: list[str]) -> int:
    address, verbose = argv[0], "--verbose" in argv
    logging.basicConfig(
        level=logging.INFO if verbose else logging.CRITICAL,
        format=f"[worker {os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    host, _, port = address.rpartition(":")
    conn = Client((host, int(port)), authkey=bytes.fromhex(os.environ["ORSIM_TURNWORKER_KEY"]))
    conn.send(("hello", os.getpid()))
    try:
        asyncio.run(serve(conn))
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
