"""
title: Manifold Test Pipe
author: orsim
version: 0.1.0
description: A manifold with two sub-models; answers with the full model id it received.
"""

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        NAME_PREFIX: str = "mf/"

    def __init__(self):
        self.valves = self.Valves()
        self.name = self.valves.NAME_PREFIX

    def pipes(self):
        return [{"id": "alpha", "name": "Alpha"}, {"id": "beta.v2", "name": "Beta"}]

    async def pipe(self, body: dict):
        yield f"manifold got model={body.get('model')}"
