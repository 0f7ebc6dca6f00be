"""
title: Async Manifold
"""


class Pipe:
    async def pipes(self):
        return [{"id": "one", "name": "One"}, {"id": "two", "name": "Two"}]

    def pipe(self, body: dict):
        return f"sync pipe answered for {body['model']}"
