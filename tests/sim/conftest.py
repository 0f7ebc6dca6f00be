"""Fixtures of the fake OpenRouter's tests."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
def strict_client(openrouter_sim):
    """The official `openai` SDK on the fake, validating every response strictly."""
    return openai.OpenAI(
        base_url=openrouter_sim.base_url,
        api_key=openrouter_sim.api_key,
        max_retries=0,
        _strict_response_validation=True,
    )
