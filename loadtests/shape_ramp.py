"""Ramp: users rise by `--ramp-step` every `--ramp-every` seconds up to `--ramp-max`, then the
test stops. Each level is held long enough for its percentiles to settle, so the knee (where
delivery lag and time to first token start to climb) shows in the plots over time.

    locust -f loadtests/chat.py,loadtests/shape_ramp.py --headless --host URL --ramp-max 600
"""

from __future__ import annotations

from locust import LoadTestShape


class RampShape(LoadTestShape):
    def tick(self):
        opts = self.runner.environment.parsed_options
        level = int(self.get_run_time() // opts.ramp_every) + 1
        users = level * opts.ramp_step
        if users > opts.ramp_max:
            return None
        return users, max(1.0, opts.ramp_step / 2)
