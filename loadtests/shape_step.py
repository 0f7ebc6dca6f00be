"""Step: `--step-users` users arrive at once and stay `--step-hold` seconds, then the test
stops. Sized above the pipe's MAX_CONCURRENT_REQUESTS + REQUEST_QUEUE_SIZE (per host worker),
the overflow of that first wave must get the pipe's "Server busy" answer at once (the FIRST
rows count busy vs admitted first chats; BUSY times each busy answer), while every admitted
chat completes.

    locust -f loadtests/chat.py,loadtests/shape_step.py --headless --host URL --step-users 90
"""

from __future__ import annotations

from locust import LoadTestShape


class StepShape(LoadTestShape):
    def tick(self):
        opts = self.runner.environment.parsed_options
        if self.get_run_time() >= opts.step_hold:
            return None
        return opts.step_users, opts.step_users  # all of them within one second
