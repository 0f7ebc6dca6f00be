"""
title: Missing Default
"""


class Pipe:
    async def pipe(self, body: dict, __user__, __event_call__):
        return "never reached without __event_call__"
