"""
title: List Manifold
"""


class Pipe:
    def __init__(self):
        self.name = "List: "
        self.pipes = [{"id": "x", "name": "X"}]

    def pipe(self, body: dict):
        return "list"
