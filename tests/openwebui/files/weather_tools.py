"""
title: Weather (differential test tool)
author: orsim
version: 0.1.0
description: A deterministic workspace tool for the differential tests: same answer in the real Open WebUI and the fake host.
"""


class Tools:
    def __init__(self):
        pass

    def get_weather(self, city: str) -> str:
        """
        Current weather for a city.
        :param city: The city's name.
        """
        return f"sunny, 21 °C in {city}"
