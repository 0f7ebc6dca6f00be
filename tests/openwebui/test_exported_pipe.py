"""The exported production pipe (`orsim export-function`) in the real Open WebUI 0.12.4:
created over REST, activated, BASE_URL on the fake OpenRouter, chatted with through a
manifold model, streaming and not; and the same conversations through the fake host."""

from __future__ import annotations

import pytest

from simulator.export import export_function
from simulator.openrouter.server import SimServer
from simulator.owui_live.differential import Conversation, compare, run_fake, run_real

pytestmark = pytest.mark.openwebui

TEXT = "Blue light scatters more than red light in air."
SCRIPT = {"script": {"seed": "exported", "text": TEXT}}
ASK = [{"role": "user", "content": "why is the sky blue"}]
SUB_MODEL = ".openai.gpt-4o-mini"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_function(tmp_path_factory.mktemp("export") / "openrouter_responses_pipe.py")


@pytest.fixture(scope="module")
def sim():
    with SimServer() as server:
        yield server


def _valves(sim) -> dict:
    return {"BASE_URL": sim.base_url, "API_KEY": sim.api_key}


async def test_exported_pipe_lists_manifold_models_and_chats(owui, owui_function, exported, sim):
    fid = owui_function(exported, valves=_valves(sim), prefix="orp")
    models = [m["id"] for m in owui.models() if m["id"].startswith(fid + ".")]
    assert fid + SUB_MODEL in models
    sim.enqueue(SCRIPT)
    streamed = await owui.chat(fid + SUB_MODEL, ASK, stream=True)
    assert streamed.status == 200 and streamed.ended_with_done
    assert streamed.text == TEXT
    sim.enqueue(SCRIPT)
    plain = await owui.chat(fid + SUB_MODEL, ASK, stream=False)
    assert plain.status == 200 and plain.text == TEXT
    sent = sim.requests_to("/responses")[-1]
    assert sent["body"]["model"] == "openai/gpt-4o-mini"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "nonstream"])
async def test_exported_pipe_fake_host_matches_real(owui, exported, sim, stream):
    conv = Conversation(
        f"exported_{'stream' if stream else 'nonstream'}",
        exported,
        ASK,
        valves={"BASE_URL": "{upstream}", "API_KEY": sim.api_key},
        stream=stream,
        upstream=[SCRIPT],
        model_suffix=SUB_MODEL,
    )
    real = await run_real(owui, conv, sim)
    fake = await run_fake(conv, sim)
    assert real.api
    differences = compare(real, fake)
    assert not differences, "\n".join(differences)
