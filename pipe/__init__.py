"""The OpenRouter Responses pipe for Open WebUI."""

from .controller import Pipe

__all__ = ["Pipe"]
