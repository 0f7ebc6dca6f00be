"""A faithful fake Open WebUI 0.12.4 for pipe functions (see docs/host.md).

from simulator.host import FakeHost, HostUser
host = FakeHost.from_file("pipe.py", function_id="my_pipe", valves={...})
transcript = await host.chat([{"role": "user", "content": "hi"}], model="my_pipe")
"""

from simulator.host.call import HostUser
from simulator.host.host import FakeHost, ModelNotFoundError
from simulator.host.loader import FunctionLoadError
from simulator.host.reduce import ReducedMessage
from simulator.host.transcript import Transcript

__all__ = [
    "FakeHost",
    "FunctionLoadError",
    "HostUser",
    "ModelNotFoundError",
    "ReducedMessage",
    "Transcript",
]
