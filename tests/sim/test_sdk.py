"""The real `openai` and `openrouter` SDKs consume the fake as they would OpenRouter."""

from __future__ import annotations

import json

import openai
import pytest

from simulator.openrouter.state import SimConfig


@pytest.fixture
def client(openrouter_sim):
    return openai.OpenAI(
        base_url=openrouter_sim.base_url, api_key=openrouter_sim.api_key, max_retries=0
    )


def test_create_stream_raw_events(strict_client):
    stream = strict_client.responses.create(model="openai/gpt-4o", input="hello world", stream=True)
    evs = list(stream)
    assert evs[0].type == "response.created" and evs[-1].type == "response.completed"
    text = "".join(e.delta for e in evs if e.type == "response.output_text.delta")
    assert text == "You said: hello world"
    assert evs[-1].response.usage.cost > 0  # OpenRouter extra, kept by the SDK


def test_stream_helper_final_response(strict_client):
    with strict_client.responses.stream(model="openai/gpt-4o", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "You said: hi"


def test_non_streaming_create(strict_client):
    resp = strict_client.responses.create(model="openai/gpt-4o", input="plain")
    assert resp.output_text == "You said: plain" and resp.status == "completed"
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens


def test_function_calls_round_trip(openrouter_sim, strict_client):
    openrouter_sim.enqueue(
        {
            "script": {
                "function_calls": [
                    {"name": "get_weather", "arguments": {"city": "Paris"}},
                    {"name": "get_time", "arguments": {"tz": "CET"}},
                ]
            }
        },
        {"script": {"text": "Sunny, 21:00."}},
    )
    tools = [
        {"type": "function", "name": n, "parameters": {"type": "object"}, "strict": False}
        for n in ("get_weather", "get_time")
    ]
    with strict_client.responses.stream(model="openai/gpt-4o", input="w?", tools=tools) as s:
        final = s.get_final_response()
    calls = [o for o in final.output if o.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    history = [{"role": "user", "content": "w?"}]
    history += [c.model_dump(exclude_none=True) for c in calls]
    history += [
        {"type": "function_call_output", "call_id": c.call_id, "output": "ok"} for c in calls
    ]
    second = strict_client.responses.create(model="openai/gpt-4o", input=history, tools=tools)
    assert second.output_text == "Sunny, 21:00."
    sent = openrouter_sim.requests_to("/responses")[-1]["body"]
    assert [i.get("type") for i in sent["input"]][-2:] == ["function_call_output"] * 2


@pytest.mark.parametrize("style", ["summary", "raw", "late_close", "summary_in_done_only"])
def test_reasoning_styles_through_stream_helper(openrouter_sim, strict_client, style):
    openrouter_sim.enqueue(
        {"script": {"reasoning": "Let me think.", "reasoning_style": style, "text": "Done."}}
    )
    with strict_client.responses.stream(model="openai/gpt-5", input="q") as s:
        list(s)
        final = s.get_final_response()
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output_text == "Done."
    rs = final.output[0]
    got = rs.content[0].text if style == "raw" else rs.summary[0].text
    assert got == "Let me think."


def test_web_search_citations(openrouter_sim, strict_client):
    openrouter_sim.enqueue(
        {
            "script": {
                "web_search": True,
                "text": "It is Paris.",
                "citations": [
                    {"url": "https://e.org", "title": "E", "start_index": 6, "end_index": 11}
                ],
            }
        }
    )
    with strict_client.responses.stream(model="openai/gpt-4o", input="capital?") as s:
        final = s.get_final_response()
    assert final.output[0].type == "web_search_call"
    ann = final.output[1].content[0].annotations[0]
    assert ann.type == "url_citation" and ann.url == "https://e.org" and ann.end_index == 11


def test_incomplete_response(openrouter_sim, client):
    openrouter_sim.enqueue({"script": {"text": "cut", "status": "incomplete"}})
    evs = list(client.responses.create(model="openai/gpt-4o", input="x", stream=True))
    assert evs[-1].type == "response.incomplete"
    assert evs[-1].response.incomplete_details.reason == "max_output_tokens"


def test_nested_error_event_raises_api_error(openrouter_sim, client):
    with pytest.raises(openai.APIError, match="Internal server error"):
        list(
            client.responses.create(
                model="openai/gpt-4o",
                input="x",
                stream=True,
                extra_headers={"X-Sim-Fault": "nested_error;after=2"},
            )
        )


def test_flat_error_and_failed_events_are_typed(client):
    evs = list(
        client.responses.create(
            model="openai/gpt-4o",
            input="x",
            stream=True,
            extra_headers={"X-Sim-Fault": "error_event"},
        )
    )
    assert evs[-1].type == "error" and evs[-1].code == "server_error"
    evs = list(
        client.responses.create(
            model="openai/gpt-4o", input="x", stream=True, extra_headers={"X-Sim-Fault": "failed"}
        )
    )
    assert (
        evs[-1].type == "response.failed" and evs[-1].response.error_type == "provider_unavailable"
    )


def test_sdk_error_classes(openrouter_sim, client):
    bad = openai.OpenAI(base_url=openrouter_sim.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e401:
        bad.responses.create(model="openai/gpt-4o", input="x")
    assert e401.value.status_code == 401 and str(e401.value.code) == "401"
    with pytest.raises(openai.RateLimitError) as e429:
        client.responses.create(
            model="openai/gpt-4o",
            input="x",
            extra_headers={"X-Sim-Fault": "rate_limit;retry_after=2"},
        )
    assert e429.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.InternalServerError) as e503:
        client.responses.create(
            model="openai/gpt-4o",
            input="x",
            extra_headers={"X-Sim-Fault": "server_error;status=503"},
        )
    assert e503.value.status_code == 503
    with pytest.raises(openai.BadRequestError) as e400:
        client.responses.create(model="openai/gpt-4o", input="x", store=True)
    assert "store" in e400.value.message


def test_sdk_retries_through_transient_429(openrouter_sim):
    retrying = openai.OpenAI(
        base_url=openrouter_sim.base_url, api_key=openrouter_sim.api_key, max_retries=2
    )
    openrouter_sim.state.config = SimConfig(faults="rate_limit;count=1;retry_after=0.01")
    assert retrying.responses.create(model="openai/gpt-4o", input="x").output_text == "You said: x"
    assert len(openrouter_sim.requests_to("/responses")) == 2


def test_stream_disconnect_is_visible_to_stream_helper(client):
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        with client.responses.stream(
            model="openai/gpt-4o", input="x", extra_headers={"X-Sim-Fault": "disconnect;after=4"}
        ) as s:
            list(s)
            s.get_final_response()


async def test_async_client_streams(openrouter_sim):
    aclient = openai.AsyncOpenAI(
        base_url=openrouter_sim.base_url, api_key=openrouter_sim.api_key, max_retries=0
    )
    stream = await aclient.responses.create(model="openai/gpt-4o", input="async", stream=True)
    types = [e.type async for e in stream]
    assert types[-1] == "response.completed"
    await aclient.close()


# ------------------------------------------------------------------ official openrouter SDK


@pytest.fixture
def orclient(openrouter_sim):
    import openrouter

    return openrouter.OpenRouter(api_key=openrouter_sim.api_key, server_url=openrouter_sim.base_url)


def test_openrouter_sdk_responses(orclient, openrouter_sim):
    resp = orclient.responses.send(model="openai/gpt-4o", input="hi")
    assert resp.output_text == "You said: hi" and resp.usage.cost > 0
    openrouter_sim.enqueue(
        {"script": {"reasoning": "hm", "text": "yes", "function_calls": [{"name": "f"}]}}
    )
    evs = list(orclient.responses.send(model="openai/gpt-4o", input="hi", stream=True))
    assert evs[0].type == "response.created" and evs[-1].type == "response.completed"
    assert [o.type for o in evs[-1].response.output] == ["reasoning", "message", "function_call"]


def test_openrouter_sdk_catalog(orclient):
    models = orclient.models.list()
    assert len(models.result.data) >= 25
    eps = orclient.endpoints.list(author="openai", slug="gpt-4o")
    assert eps.data.endpoints[0].provider_name == "OpenAI"


def test_openrouter_sdk_errors(openrouter_sim):
    import openrouter
    from openrouter import errors

    bad = openrouter.OpenRouter(api_key="wrong", server_url=openrouter_sim.base_url)
    with pytest.raises(errors.OpenRouterError) as exc:
        bad.responses.send(model="openai/gpt-4o", input="hi")
    assert exc.value.status_code == 401
