"""
title: Only A Filter
"""


class Filter:
    def inlet(self, body: dict) -> dict:
        return body


class Action:
    pass
