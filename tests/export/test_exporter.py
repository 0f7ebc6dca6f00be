"""`orsim export-function`: one self-contained file that Open WebUI 0.12 accepts."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulator.export import (
    ALLOWED_THIRD_PARTY,
    REWRITTEN_SUBSTRINGS,
    ExportError,
    build_function_source,
    validate_function_source,
)


@pytest.fixture(scope="module")
def exported() -> str:
    return build_function_source()


def test_first_line_is_frontmatter_with_manifest_keys(exported: str) -> None:
    lines = exported.splitlines()
    assert lines[0] == '"""'
    header = lines[1 : lines.index('"""', 1)]
    keys = {line.split(":", 1)[0] for line in header}
    assert {"title", "author", "version", "license", "description"} <= keys


def test_no_rewritten_substrings_and_no_dunder_file(exported: str) -> None:
    for needle in REWRITTEN_SUBSTRINGS:
        assert needle not in exported
    assert "__file__" not in exported


def test_valves_nested_literally_in_pipe(exported: str) -> None:
    tree = ast.parse(exported)
    pipe = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Pipe")
    nested = {n.name for n in pipe.body if isinstance(n, ast.ClassDef)}
    assert {"Valves", "UserValves"} <= nested


def test_imports_only_what_open_webui_ships(exported: str) -> None:
    allowed = ALLOWED_THIRD_PARTY | {"__future__"}
    for node in ast.walk(ast.parse(exported)):
        if isinstance(node, ast.Import):
            tops = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports must be gone from the exported file"
            tops = [(node.module or "").split(".")[0]]
        else:
            continue
        for top in tops:
            assert top in sys.stdlib_module_names or top in allowed, top


def test_exported_file_imports_in_a_clean_interpreter(tmp_path: Path, exported: str) -> None:
    """Loaded by a fresh interpreter with the project's packages off the path, as in Open WebUI."""
    fn = tmp_path / "fn.py"
    fn.write_text(exported)
    probe = textwrap.dedent(
        f"""
        import sys, types
        sys.path = [p for p in sys.path if not p.rstrip('/').endswith('main')]
        for name in list(sys.modules):
            if name == 'pipe' or name.startswith('pipe.') or name.startswith('simulator'):
                raise SystemExit('project package leaked: ' + name)
        src = open({str(fn)!r}).read()
        mod = types.ModuleType('function_openrouter_abc')
        sys.modules[mod.__name__] = mod
        exec(compile(src, 'fn', 'exec'), mod.__dict__)
        p = mod.Pipe()
        assert 'pipe' not in sys.modules and 'simulator' not in sys.modules
        print(type(p.valves).__name__)
        """
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Valves"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name, body in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(textwrap.dedent(body))
    return pkg


PIPE_OK = '''
    """The controller."""
    from pydantic import BaseModel

    from .helpers import greet


    class Pipe:
        class Valves(BaseModel):
            X: int = 1

        class UserValves(BaseModel):
            Y: int = 2

        def __init__(self):
            self.valves = self.Valves()
            self.hello = greet()
'''


def test_dependency_order_and_docstrings_become_comments(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "controller.py": PIPE_OK,
            "helpers.py": '"""Helpers."""\n\ndef greet():\n    return "hi"\n',
        },
    )
    src = build_function_source(pkg, version="9.9.9")
    assert src.index("def greet") < src.index("class Pipe")
    assert "# Helpers." in src and "version: 9.9.9" in src


def test_subpackages_are_flattened_in_dependency_order(tmp_path: Path) -> None:
    pkg = _package(
        tmp_path,
        {
            "controller.py": PIPE_OK.replace(
                "from .helpers import greet", "from .storage.words import greet"
            ),
            "storage/__init__.py": '"""Storage."""\n',
            "storage/words.py": '"""Words."""\n\nfrom ..base import HI\nfrom .deep import twice\n\n'
            "def greet():\n    return twice(HI)\n",
            "storage/deep.py": "def twice(s):\n    return s * 2\n",
            "base.py": 'HI = "hi"\n',
        },
    )
    src = build_function_source(pkg, version="1")
    assert src.index("HI =") < src.index("def greet") < src.index("class Pipe")
    assert src.index("def twice") < src.index("def greet")
    assert "# pipe/storage/words.py" in src
    namespace: dict = {}
    exec(compile(src, "exported", "exec"), namespace)
    assert namespace["Pipe"]().hello == "hihi"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {
                "controller.py": PIPE_OK,
                "helpers.py": "from .controller import Pipe\ndef greet(): ...\n",
            },
            "import cycle",
        ),
        (
            {"controller.py": PIPE_OK, "helpers.py": "import yaml\ndef greet(): ...\n"},
            "does not ship",
        ),
        (
            {"controller.py": PIPE_OK, "helpers.py": "def greet(): ...\nclass Pipe: ...\n"},
            "defined in both",
        ),
        (
            {
                "controller.py": PIPE_OK.replace(
                    "from .helpers import greet", "from .nothere import greet"
                ),
                "helpers.py": "def greet(): ...\n",
            },
            "unknown sibling",
        ),
        (
            {
                "controller.py": PIPE_OK,
                "helpers.py": "# read from config files\ndef greet(): ...\n",
            },
            "rewrites",
        ),
        (
            {
                "controller.py": PIPE_OK.replace("class UserValves", "class Other"),
                "helpers.py": "def greet(): ...\n",
            },
            "UserValves",
        ),
        (
            {
                "controller.py": PIPE_OK.replace(
                    "from .helpers import greet", "from .helpers import greet as hello"
                ),
                "helpers.py": "def greet(): ...\n",
            },
            "cannot be flattened",
        ),
        (
            {
                "controller.py": PIPE_OK.replace(
                    "from .helpers import greet", "from .helpers import *"
                ),
                "helpers.py": "def greet(): ...\n",
            },
            "star imports",
        ),
    ],
)
def test_invalid_packages_are_refused_with_a_reason(tmp_path: Path, files, message) -> None:
    pkg = _package(tmp_path, files)
    with pytest.raises(ExportError, match=message):
        build_function_source(pkg, version="1")


def test_validate_rejects_missing_frontmatter_and_dunder_file() -> None:
    with pytest.raises(ExportError, match="first line"):
        validate_function_source("class Pipe: ...\n")
    with pytest.raises(ExportError, match="__file__"):
        validate_function_source('"""\ntitle: x\n"""\nprint(__file__)\n')


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "f.py"
    res = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "export-function", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    validate_function_source(out.read_text())
