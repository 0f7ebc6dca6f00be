"""
title: Minimal
"""


class Pipe:
    def pipe(self, body):
        return "minimal:" + body["messages"][-1]["content"]
