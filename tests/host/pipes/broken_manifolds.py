"""
title: Broken Manifold
"""


class Pipe:
    def __init__(self):
        self.mode = "raise"

    def pipes(self):
        if self.mode == "raise":
            raise RuntimeError("catalog unavailable")
        return [{"name": "no id here"}]

    def pipe(self, body: dict):
        return "never listed"
