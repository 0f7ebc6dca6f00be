"""
title: Init Raises
"""


class Pipe:
    def __init__(self, required_arg):
        self.required_arg = required_arg

    def pipe(self, body: dict):
        return "never"
