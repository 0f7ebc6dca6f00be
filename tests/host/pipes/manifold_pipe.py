"""
title: Manifold Test Pipe
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        NAME_PREFIX: str = "mf/"
        EXTRA_MODEL: str = ""

    def __init__(self):
        self.type = "manifold"  # ignored by 0.12.4: the `pipes` attribute makes a manifold
        self.valves = self.Valves()
        self.name = self.valves.NAME_PREFIX

    def pipes(self):
        items = [{"id": "alpha", "name": "Alpha"}, {"id": "beta.v2", "name": "Beta"}]
        if self.valves.EXTRA_MODEL:  # valves are re-applied before every listing
            items.append({"id": self.valves.EXTRA_MODEL, "name": self.valves.EXTRA_MODEL.title()})
        return items

    async def pipe(self, body: dict, __user__: dict, __event_emitter__=None):
        yield f"manifold got model={body.get('model')}"
