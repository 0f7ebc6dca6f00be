"""title: Not Parsed
author: nobody
"""


class Pipe:
    def pipe(self, body: dict):
        return "ok"
