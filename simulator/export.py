"""Build the ONE self-contained Function file that an operator pastes into Open WebUI.

The pipe is developed as a package of small modules (`pipe/`). Open WebUI wants a single
file, so this module concatenates the package's modules in dependency order, drops the
intra-package imports (every name then lives in one namespace), hoists
`from __future__ import annotations`, and prepends the frontmatter docstring that Open WebUI
parses from the very first line. The result is checked the way Open WebUI would treat it:
no substrings its import rewriter touches, no `__file__`, and it must exec into a fresh
module and yield a `Pipe` with nested `Valves`/`UserValves`.
"""

from __future__ import annotations

import ast
import graphlib
import re
import sys
import types
import uuid
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pipe"
FUTURE_IMPORT = "from __future__ import annotations"
# Open WebUI's `replace_imports` rewrites these substrings anywhere in the text.
REWRITTEN_SUBSTRINGS = ("from utils", "from apps", "from main", "from config")
# What Open WebUI 0.12's own environment provides; the pipe may import nothing else.
ALLOWED_THIRD_PARTY = {
    "aiohttp",
    "httpx",
    "pydantic",
    "sqlalchemy",
    "cryptography",
    "redis",
    "zstandard",
    "orjson",
    "aiosqlite",
    "psycopg",
    "open_webui",
    "opentelemetry",  # api + sdk ship with Open WebUI 0.12.4 (ENABLE_OTEL)
}


class ExportError(Exception):
    """The package cannot be turned into a valid Open WebUI function file."""


@dataclass
class _Module:
    name: str
    source: str
    tree: ast.Module
    deps: set[str]


def _read_version() -> str:
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
    return match.group(1) if match else "0.0.0"


def frontmatter(version: str) -> str:
    return (
        '"""\n'
        "title: OpenRouter Responses\n"
        "author: openrouter-responses-pipe\n"
        "version: " + version + "\n"
        "license: MIT\n"
        "required_open_webui_version: 0.12.0\n"
        "description: Chat with every OpenRouter model through the OpenRouter Responses API "
        "(streaming, reasoning, citations, tools, usage).\n"
        '"""\n'
    )


def _module_key(package_dir: Path, path: Path) -> str:
    """`errors` for pipe/errors.py, `storage.crypto` for pipe/storage/crypto.py."""
    return ".".join(path.relative_to(package_dir).with_suffix("").parts)


def _resolve_relative(key: str, node: ast.ImportFrom, filename: str) -> str:
    """The module key a relative import names, seen from module `key`."""
    package = key.split(".")[:-1]
    if node.level - 1 > len(package):
        raise ExportError(f"{filename}: relative import climbs above pipe/")
    base = package[: len(package) - (node.level - 1)]
    if not node.module:
        raise ExportError(f"{filename}: import names from a module (`from .x import Name`)")
    for alias in node.names:
        # Flattened into one namespace, `from .x import A as B` would leave `B` undefined.
        if alias.asname and alias.asname != alias.name:
            raise ExportError(
                f"{filename}:{node.lineno}: `from .{node.module} import {alias.name} as "
                f"{alias.asname}` cannot be flattened; import the name as it is"
            )
        if alias.name == "*":
            raise ExportError(f"{filename}:{node.lineno}: star imports cannot be flattened")
    return ".".join([*base, node.module])


def _load_modules(package_dir: Path) -> dict[str, _Module]:
    """Every module of the package, subpackages included (flattened into one namespace).
    `__init__.py` files only document their package: nothing is imported through them."""
    modules: dict[str, _Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        if path.name == "__init__.py" or "__pycache__" in path.parts:
            continue
        key = _module_key(package_dir, path)
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                deps.add(_resolve_relative(key, node, path.name))
            elif isinstance(node, ast.ImportFrom | ast.Import):
                _check_third_party(path.name, node)
        modules[key] = _Module(key, source, tree, deps)
    for mod in modules.values():
        missing = mod.deps - modules.keys()
        if missing:
            raise ExportError(f"{mod.name}.py imports unknown sibling modules: {sorted(missing)}")
    return modules


def _check_third_party(filename: str, node: ast.Import | ast.ImportFrom) -> None:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for name in names:
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__":
            continue
        raise ExportError(f"{filename}: imports {name!r}, which Open WebUI does not ship")


def _module_body(mod: _Module) -> str:
    """The module's source without its docstring, relative imports and future import."""
    lines = mod.source.splitlines()
    drop: set[int] = set()
    body = mod.tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            drop.update(range(body[0].lineno - 1, body[0].end_lineno))
    for node in body:
        relative = isinstance(node, ast.ImportFrom) and node.level
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if relative or future:
            drop.update(range(node.lineno - 1, node.end_lineno))
    kept = [line for i, line in enumerate(lines) if i not in drop]
    return "\n".join(kept).strip("\n") + "\n"


def _docstring_comment(mod: _Module) -> str:
    doc = ast.get_docstring(mod.tree) or ""
    header = f"# {'=' * 78}\n# pipe/{mod.name.replace('.', '/')}.py\n"
    if doc:
        header += "".join(f"# {line}".rstrip() + "\n" for line in doc.splitlines())
    return header + f"# {'=' * 78}\n"


def _check_top_level_names(order: list[str], modules: dict[str, _Module]) -> None:
    """Every module shares one namespace once concatenated: a clash would silently rebind."""
    owner: dict[str, str] = {}
    for name in order:
        for node in modules[name].tree.body:
            defined: list[str] = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined = [node.name]
            elif isinstance(node, ast.Assign):
                defined = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined = [node.target.id]
            for ident in defined:
                if ident in owner and owner[ident] != name and ident not in ("__all__", "logger"):
                    raise ExportError(
                        f"top-level name {ident!r} is defined in both {owner[ident]}.py "
                        f"and {name}.py"
                    )
                owner.setdefault(ident, name)


def build_function_source(package_dir: Path = PACKAGE_DIR, version: str | None = None) -> str:
    modules = _load_modules(package_dir)
    sorter = graphlib.TopologicalSorter({m.name: m.deps for m in modules.values()})
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ExportError(f"import cycle between pipe modules: {exc.args[1]}") from exc
    _check_top_level_names(order, modules)
    parts = [frontmatter(version or _read_version()), FUTURE_IMPORT + "\n"]
    for name in order:
        parts.append("\n\n" + _docstring_comment(modules[name]) + _module_body(modules[name]))
    source = "".join(parts)
    validate_function_source(source)
    return source


def validate_function_source(source: str) -> None:
    """Reject what Open WebUI 0.12 would mangle or refuse; exec it like its loader does."""
    if not source.startswith('"""\n'):
        raise ExportError('the first line must be exactly """ for the frontmatter to parse')
    for needle in REWRITTEN_SUBSTRINGS:
        if needle in source:
            raise ExportError(f"the source contains {needle!r}, which Open WebUI rewrites")
    if "__file__" in source:
        raise ExportError("the source uses __file__, which Open WebUI deletes after loading")
    # Like Open WebUI's loader: a fresh module, registered in sys.modules before exec
    # (dataclasses and pydantic resolve string annotations through it).
    module_name = f"function_export_check_{uuid.uuid4().hex}"
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        exec(compile(source, "<exported function>", "exec"), module.__dict__)
        _check_pipe_class(module, source)
    finally:
        sys.modules.pop(module_name, None)


def _check_pipe_class(module: types.ModuleType, source: str) -> None:
    pipe_cls = getattr(module, "Pipe", None)
    if pipe_cls is None:
        raise ExportError("the exported file defines no class Pipe")
    tree = ast.parse(source)
    pipe_def = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Pipe")
    nested = {n.name for n in pipe_def.body if isinstance(n, ast.ClassDef)}
    for required in ("Valves", "UserValves"):
        if required not in nested:
            raise ExportError(f"class Pipe must nest class {required} literally in its body")
    pipe_cls()


def export_function(out: Path) -> Path:
    out.write_text(build_function_source(), encoding="utf-8")
    return out
