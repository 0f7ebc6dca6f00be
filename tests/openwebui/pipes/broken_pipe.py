"""
title: Broken Test Pipe
author: orsim
version: 0.1.0
description: Raises while being instantiated, so Open WebUI must refuse to create it.
"""


class Pipe:
    def __init__(self):
        raise ValueError("cannot start")

    async def pipe(self, body: dict):
        yield "never"
