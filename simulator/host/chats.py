"""A saved chat as the fake host keeps it, so turn N+1 gets the history Open WebUI would send.

Open WebUI 0.12.4 stores each answer's output items and rebuilds the next request from them
(`process_messages_with_output` / `convert_output_to_messages`): an answer's text comes back
as the assistant content (whatever the pipe streamed, marker lines included); in its own tool
loop the calls and results come back as an assistant message with `tool_calls` followed by
`tool` messages. Cloning a chat (or branching from an earlier message) copies the history
under a new chat id.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from simulator.host.call import new_id
from simulator.host.transcript import Transcript


@dataclass
class HostChat:
    chat_id: str = field(default_factory=new_id)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def add_user(self, content: Any) -> None:
        self.messages.append({"role": "user", "content": content})

    def add_system(self, content: str) -> None:
        self.messages.append({"role": "system", "content": content})

    def history(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.messages)

    def record(self, transcript: Transcript) -> None:
        """Keep the answer of a finished turn: the tool-loop messages Open WebUI added between
        rounds (UI path), then the last round's text."""
        sent_first = len(transcript.bodies[0].get("messages") or []) if transcript.bodies else 0
        last = (transcript.bodies[-1].get("messages") or []) if transcript.bodies else []
        self.messages.extend(copy.deepcopy(last[sent_first:]))
        text = transcript.round_texts[-1] if transcript.ui and transcript.round_texts else ""
        text = text or transcript.content
        if text:
            self.messages.append({"role": "assistant", "content": text})

    def edit_last_assistant(self, content: str) -> None:
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                message["content"] = content
                return
        raise ValueError("the chat has no assistant message to edit")

    def clone(self) -> HostChat:
        """`/api/v1/chats/{id}/clone`: the same history under a new chat id."""
        return HostChat(messages=copy.deepcopy(self.messages))

    def branch(self, keep: int) -> HostChat:
        """A new chat from the first `keep` messages (a branch off an earlier message)."""
        return HostChat(messages=copy.deepcopy(self.messages[:keep]))
