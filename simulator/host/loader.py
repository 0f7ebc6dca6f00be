"""Load a function file the way Open WebUI 0.12.4 does (`utils/plugin.py`, `functions.py`).

Frontmatter, the naive import rewriting, exec into a fresh module, class detection
(Pipe > Filter > Action > Event), `Pipe()` with no arguments, and the valves rules:
stored valves are re-applied before every listing and call, user valves become a
`UserValves` instance.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import types
import uuid
from dataclasses import dataclass, field
from typing import Any

# plugin.py extract_frontmatter: keys are letters and underscores only.
_FRONTMATTER_LINE = re.compile(r"^\s*([a-z_]+):\s*(.*)\s*$", re.IGNORECASE)

# plugin.py replace_imports: a plain substring replace over the whole source text.
IMPORT_REWRITES = {
    "from utils": "from open_webui.utils",
    "from apps": "from open_webui.apps",
    "from main": "from open_webui.main",
    "from config": "from open_webui.config",
}

# The order Open WebUI checks; the first class found decides the function type.
FUNCTION_CLASSES = (
    ("Pipe", "pipe"),
    ("Filter", "filter"),
    ("Action", "action"),
    ("Event", "event"),
)


class FunctionLoadError(Exception):
    """The source could not be loaded as a function (Open WebUI answers 400 on create)."""


def extract_frontmatter(content: str) -> dict[str, str]:
    """Key/value lines of a docstring that starts on a line that is exactly `\"\"\"`."""
    lines = content.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    frontmatter: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = _FRONTMATTER_LINE.match(line)
        if match:
            key, value = match.groups()
            frontmatter[key.strip()] = value.strip()
    return frontmatter


def parse_requirements(frontmatter: dict[str, str]) -> list[str]:
    """The comma-separated `requirements` list. The host reports it and never installs it."""
    raw = frontmatter.get("requirements", "")
    return [item.strip() for item in raw.split(",") if item.strip()]


def replace_imports(content: str) -> str:
    for old, new in IMPORT_REWRITES.items():
        content = content.replace(old, new)
    return content


def validate_function_id(function_id: str) -> str:
    """Open WebUI requires `str.isidentifier()` and lower-cases the id on create."""
    if not function_id or not function_id.isidentifier():
        raise FunctionLoadError(
            "Only alphanumeric characters and underscores are allowed in the id"
            f" (got {function_id!r})"
        )
    return function_id.lower()


def default_function_id(path: str) -> str:
    """A valid id from a file name: `my-pipe.py` -> `my_pipe`."""
    stem = os.path.splitext(os.path.basename(path))[0]
    cleaned = re.sub(r"\W", "_", stem).lower()
    if not cleaned or cleaned[0].isdigit():
        cleaned = f"f_{cleaned}"
    return cleaned


def exec_function_module(function_id: str, content: str) -> tuple[types.ModuleType, Any, str]:
    """Exec already-rewritten source; return (module, instance, type)."""
    module_name = f"function_{function_id}_{uuid.uuid4().hex}"
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    # __file__ exists during exec only: Open WebUI deletes the temp file right after.
    handle, temp_path = tempfile.mkstemp(suffix=".py", prefix=f"function_{function_id}_")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            fh.write(content)
        module.__dict__["__file__"] = temp_path
        try:
            exec(content, module.__dict__)
        except Exception as exc:
            raise FunctionLoadError(f"Error executing function {function_id!r}: {exc!r}") from exc
        for class_name, kind in FUNCTION_CLASSES:
            cls = module.__dict__.get(class_name)
            if cls is not None:
                try:
                    instance = cls()
                except Exception as exc:
                    raise FunctionLoadError(
                        f"Error instantiating {class_name}() of {function_id!r}: {exc!r}"
                    ) from exc
                # set_function_module_in_cache registers the module under its plain name.
                sys.modules[f"function_{function_id}"] = module
                return module, instance, kind
        raise FunctionLoadError(
            f"No Function class found in {function_id!r} (need Pipe, Filter, Action or Event)"
        )
    finally:
        os.unlink(temp_path)
        sys.modules.pop(module_name, None)


@dataclass
class LoadedFunction:
    """One function as a worker holds it: source, instance and stored valves."""

    id: str
    name: str
    content: str
    module: types.ModuleType
    instance: Any
    type: str
    frontmatter: dict[str, str]
    valves: dict[str, Any] = field(default_factory=dict)
    user_valves: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: int = 0
    loaded_count: int = 1

    @property
    def requirements(self) -> list[str]:
        return parse_requirements(self.frontmatter)

    @property
    def is_manifold(self) -> bool:
        return hasattr(self.instance, "pipes")

    @property
    def has_user_valves(self) -> bool:
        return hasattr(self.instance, "UserValves")

    def apply_valves(self) -> None:
        """`get_function_module_by_id`: rebuild `self.valves` from storage, None values dropped."""
        inst = self.instance
        if hasattr(inst, "valves") and hasattr(inst, "Valves"):
            stored = {k: v for k, v in (self.valves or {}).items() if v is not None}
            inst.valves = inst.Valves(**stored)

    def set_valves(self, values: dict[str, Any]) -> dict[str, Any]:
        """Admin valve update: validated by `Valves`, stored with `exclude_unset`."""
        cls = getattr(self.instance, "Valves", None)
        if cls is None:
            raise FunctionLoadError(f"Function {self.id!r} has no Valves class")
        self.valves = cls(**values).model_dump(exclude_unset=True)
        return self.valves

    def set_user_valves(self, user_id: str, values: dict[str, Any]) -> dict[str, Any]:
        cls = getattr(self.instance, "UserValves", None)
        if cls is None:
            raise FunctionLoadError(f"Function {self.id!r} has no UserValves class")
        self.user_valves[user_id] = cls(**values).model_dump(exclude_unset=True)
        return self.user_valves[user_id]

    def user_valves_instance(self, user_id: str) -> Any:
        """A `UserValves` instance; falls back to defaults when stored values fail validation."""
        cls = self.instance.UserValves
        try:
            return cls(**(self.user_valves.get(user_id) or {}))
        except Exception:
            return cls()

    def reload(self, content: str) -> None:
        """Re-exec when the stored source changed (Open WebUI compares the strings)."""
        rewritten = replace_imports(content)
        if rewritten == self.content:
            return
        module, instance, kind = exec_function_module(self.id, rewritten)
        self.content, self.module, self.instance, self.type = rewritten, module, instance, kind
        self.frontmatter = extract_frontmatter(content)
        self.loaded_count += 1


def load_function(
    content: str,
    function_id: str,
    *,
    name: str | None = None,
    valves: dict[str, Any] | None = None,
    created_at: int = 0,
) -> LoadedFunction:
    """Load source text as Open WebUI's `/functions/create` does (the stored text is rewritten)."""
    fid = validate_function_id(function_id)
    rewritten = replace_imports(content)
    frontmatter = extract_frontmatter(content)  # read before the rewrite, as on create
    module, instance, kind = exec_function_module(fid, rewritten)
    loaded = LoadedFunction(
        id=fid,
        name=name or frontmatter.get("title") or fid,
        content=rewritten,
        module=module,
        instance=instance,
        type=kind,
        frontmatter=frontmatter,
        created_at=created_at,
    )
    if valves:
        loaded.set_valves(valves)
    return loaded
