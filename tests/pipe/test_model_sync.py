"""Publishing the catalog into Open WebUI's model records (the fake host's `model` table):
created once, admin edits kept, models that left the catalog marked and never deleted."""

from __future__ import annotations

from pipe.model_info import parse_model
from pipe.model_sync import sync_models
from pipe.owui import OwuiModelRecords
from simulator.host import owui_modules


def _model(slug: str, inputs: list[str], description: str = "A model.") -> object:
    return parse_model(
        {
            "id": slug,
            "name": slug,
            "description": description,
            "architecture": {"input_modalities": inputs},
            "pricing": {"prompt": "0.000001", "completion": "0.000001"},
        }
    )


async def test_sync_creates_keeps_admin_edits_and_marks_removed():
    owui_modules.reset()
    # the adapter over the fake host's `model` table (same call shapes as Open WebUI 0.12.4)
    records = OwuiModelRecords(owui_modules.Models, owui_modules.ModelForm)
    vision, text = _model("openai/gpt-4o", ["text", "image"]), _model("meta/llama", ["text"])
    first = await sync_models(records, "orp", [vision, text])
    assert sorted(first.created) == ["orp.meta.llama", "orp.openai.gpt-4o"]
    stored = owui_modules.Models.records
    assert stored["orp.openai.gpt-4o"].meta["capabilities"]["vision"] is True
    assert stored["orp.meta.llama"].meta["capabilities"]["vision"] is False

    again = await sync_models(records, "orp", [vision, text])
    assert again.created == again.updated == []  # nothing changed, nothing written

    edited = stored["orp.meta.llama"].model_copy(deep=True)
    edited.meta["description"] = "Our house model"
    stored["orp.meta.llama"] = edited
    newer = _model("meta/llama", ["text", "image"], description="A newer description.")
    report = await sync_models(records, "orp", [vision, newer])
    assert report.kept_admin_edits == ["orp.meta.llama"]
    assert stored["orp.meta.llama"].meta["description"] == "Our house model"
    assert stored["orp.meta.llama"].meta["capabilities"]["vision"] is True  # ours: updated

    gone = await sync_models(records, "orp", [vision])
    assert gone.removed == ["orp.meta.llama"]
    assert "orp.meta.llama" in stored  # marked, not deleted
    assert stored["orp.meta.llama"].meta["openrouter_pipe"]["removed"] is True
