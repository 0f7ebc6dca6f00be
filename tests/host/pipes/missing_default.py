"""
title: Missing Default
description: Names __model__, which 0.12.4 never injects, without a default.
"""


class Pipe:
    async def pipe(self, body: dict, __user__, __model__):
        return "never reached"
