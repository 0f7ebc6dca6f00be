"""
title: Events Pipe
description: Uses the emitter and the event caller the way a production pipe does.
"""


class Pipe:
    async def pipe(self, body: dict, __event_emitter__=None, __event_call__=None):
        emit = __event_emitter__
        await emit({"type": "status", "data": {"description": "Searching", "done": False}})
        await emit(
            {
                "type": "citation",
                "data": {
                    "source": {"name": "Doc A", "url": "https://a.example"},
                    "document": ["text A"],
                    "metadata": [{"source": "https://a.example", "name": "Doc A"}],
                },
            }
        )
        await emit(
            {
                "type": "source",
                "data": {
                    "source": {"name": "Doc B"},
                    "document": ["text B"],
                    "metadata": [{"source": "b"}],
                },
            }
        )
        await emit({"type": "notification", "data": {"type": "info", "content": "heads up"}})
        ok = await __event_call__(
            {"type": "confirmation", "data": {"title": "Proceed?", "message": "Run it?"}}
        )
        name = await __event_call__(
            {
                "type": "input",
                "data": {"title": "Name", "message": "Your name", "placeholder": "name"},
            }
        )
        await emit({"type": "status", "data": {"description": "Done", "done": True}})
        await emit({"type": "chat:message:delta", "data": {"content": " (extra)"}})
        return f"confirmed={ok} name={name}"
