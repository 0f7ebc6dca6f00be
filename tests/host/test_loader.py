"""Loading a function file as Open WebUI 0.12.4 does."""

from __future__ import annotations

import os
import sys

import pytest

from simulator.host.host import FakeHost
from simulator.host.loader import (
    FunctionLoadError,
    default_function_id,
    extract_frontmatter,
    load_function,
    replace_imports,
)


def test_frontmatter_keys_from_a_first_line_of_triple_quotes(host_pipe):
    content = host_pipe("frontmatter_pipe").read_text()
    meta = extract_frontmatter(content)
    assert meta["title"] == "Frontmatter Pipe"
    assert meta["author"] == "Jane Doe"
    assert meta["author_url"] == "https://example.com"
    assert meta["version"] == "1.2.3"
    assert meta["license"] == "MIT"
    assert meta["requirements"] == "nonexistent-pkg==9.9, other_pkg"
    # Hyphens and digits stop a key from matching the regex.
    assert "required-open-webui-version" not in meta
    assert "funding_url2" not in meta
    assert not any(k.startswith("required") for k in meta)


@pytest.mark.parametrize(
    "first_line",
    ['"""title: x', "r'''", "'''", "# comment", 'r"""'],
)
def test_frontmatter_needs_a_bare_triple_quote_first_line(first_line):
    assert extract_frontmatter(f'{first_line}\ntitle: Y\n"""\n') == {}


def test_frontmatter_stops_at_the_closing_quotes():
    text = '"""\ntitle: A\n"""\nauthor: not frontmatter\n'
    assert extract_frontmatter(text) == {"title": "A"}


def test_inline_docstring_is_not_frontmatter(host_pipe):
    fn = load_function(host_pipe("bad_frontmatter").read_text(), "bad_frontmatter")
    assert fn.frontmatter == {}
    assert fn.name == "bad_frontmatter"


def test_requirements_are_reported_never_installed(host_pipe):
    fn = load_function(host_pipe("frontmatter_pipe").read_text(), "fm")
    assert fn.requirements == ["nonexistent-pkg==9.9", "other_pkg"]
    with pytest.raises(ImportError):
        __import__("nonexistent_pkg")


def test_import_rewriting_is_a_naive_substring_replace(host_pipe):
    assert replace_imports("from utils.misc import x") == "from open_webui.utils.misc import x"
    assert replace_imports("from apps.a import b; from main import c; from config import d") == (
        "from open_webui.apps.a import b; from open_webui.main import c; "
        "from open_webui.config import d"
    )
    fn = load_function(host_pipe("frontmatter_pipe").read_text(), "fm2")
    # Strings are rewritten too, and so is the stored content.
    assert fn.module.NOTE == "loaded from open_webui.config file, from open_webui.mainstream"
    assert "from open_webui.mainstream" in fn.content


async def test_rewritten_source_reaches_the_pipe_output(host_pipe):
    host = FakeHost.from_file(host_pipe("frontmatter_pipe"))
    t = await host.chat([{"role": "user", "content": "x"}], stream=False)
    assert t.message.content == "loaded from open_webui.config file, from open_webui.mainstream"


def test_exec_into_a_fresh_module_registered_as_function_id(host_pipe):
    content = host_pipe("instance_pipe").read_text()
    first = load_function(content, "inst")
    second = load_function(content, "inst")
    assert first.module is not second.module
    assert first.module.__name__.startswith("function_inst_")
    assert first.module.__name__ != second.module.__name__
    assert sys.modules["function_inst"] is second.module
    assert first.module.__name__ not in sys.modules  # the uuid name is dropped after exec
    assert first.instance.instance_id != second.instance.instance_id
    # __file__ pointed at a temp file that is gone after loading.
    assert not os.path.exists(first.module.__file__)


def test_class_detection_prefers_pipe_then_filter_then_action(host_pipe):
    assert load_function(host_pipe("echo_pipe").read_text(), "e").type == "pipe"
    assert load_function(host_pipe("filter_only").read_text(), "f").type == "filter"
    action = load_function("class Action:\n    pass\n\nclass Event:\n    pass\n", "a")
    assert action.type == "action"
    assert load_function("class Event:\n    pass\n", "ev").type == "event"


async def test_a_filter_is_loaded_but_lists_no_model(host_pipe):
    host = FakeHost.from_file(host_pipe("filter_only"))
    assert await host.models() == []


def test_a_legacy_type_attribute_is_ignored(host_pipe):
    fn = load_function(host_pipe("manifold_pipe").read_text(), "m")
    assert fn.type == "pipe" and fn.is_manifold


@pytest.mark.parametrize(
    ("pipe", "message"),
    [
        ("no_class", "No Function class found"),
        ("init_raises", "Error instantiating Pipe()"),
    ],
)
def test_load_failures_are_clear_errors(host_pipe, pipe, message):
    with pytest.raises(FunctionLoadError, match=message):
        load_function(host_pipe(pipe).read_text(), pipe)


def test_syntax_errors_are_load_errors():
    with pytest.raises(FunctionLoadError, match="Error executing function"):
        load_function("class Pipe:\n    def pipe(self, body)\n", "broken")


@pytest.mark.parametrize("bad", ["bad-id", "has.dot", "1abc", ""])
def test_function_ids_must_be_identifiers(bad):
    with pytest.raises(FunctionLoadError, match="alphanumeric"):
        load_function("class Pipe:\n    pass\n", bad)


def test_function_ids_are_lower_cased_and_derived_from_file_names():
    assert load_function("class Pipe:\n    pass\n", "MyPipe").id == "mypipe"
    assert default_function_id("/x/my-pipe.v2.py") == "my_pipe_v2"
    assert default_function_id("/x/2fast.py") == "f_2fast"


def test_reload_only_when_the_content_changes(host_pipe):
    content = host_pipe("instance_pipe").read_text()
    fn = load_function(content, "reload_me")
    instance = fn.instance
    fn.reload(content)
    assert fn.instance is instance and fn.loaded_count == 1
    fn.reload(content + "\n# edited\n")
    assert fn.instance is not instance and fn.loaded_count == 2


def test_add_function_needs_a_path_or_an_id():
    host = FakeHost()
    with pytest.raises(ValueError, match="path or content"):
        host.add_function()
    with pytest.raises(ValueError, match="function_id"):
        host.add_function(content="class Pipe:\n    pass\n")


async def test_one_instance_serves_concurrent_calls_until_the_source_changes(make_host, host_pipe):
    import asyncio

    host = make_host("instance_pipe", function_id="inst", valves={"DELAY_MS": 20})
    ask = [{"role": "user", "content": "x"}]
    first, second = await asyncio.gather(host.chat(ask), host.chat(ask))
    ids = {t.message.content.split()[1] for t in (first, second)}
    assert len(ids) == 1  # the same Pipe instance, shared by concurrent requests
    assert host.function("inst").instance.calls == 2
    content = host_pipe("instance_pipe").read_text()
    host.update_function("inst", content)  # unchanged source: same instance
    assert host.function("inst").instance.calls == 2
    host.update_function("inst", content + "\n# v2\n")
    third = await host.chat(ask)
    assert third.message.content.split()[1] not in ids
    assert third.message.content.endswith("calls=1")
    # Stored valves survive the code update.
    assert host.function("inst").instance.valves.DELAY_MS == 20
