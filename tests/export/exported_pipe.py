"""Run the pipe's own tests against the exported single file instead of the package.

With `pytest --pipe-impl=exported`, `pipe` and every `pipe.<module>` resolve to ONE module
built from the file `orsim export-function` writes (loaded the way Open WebUI loads it).
The exporter guarantees unique top-level names, so `from pipe.errors import PipeError`
finds the same object in the exported namespace. Package and export can then never drift.
"""

from __future__ import annotations

import sys
import types
import uuid

from simulator.export import PACKAGE_DIR, build_function_source


def install_exported_pipe() -> types.ModuleType:
    if any(name == "pipe" or name.startswith("pipe.") for name in sys.modules):
        raise RuntimeError("the pipe package was imported before the exported file could stand in")
    source = build_function_source()
    module = types.ModuleType(f"function_openrouter_{uuid.uuid4().hex}")
    sys.modules[module.__name__] = module
    exec(compile(source, "<exported function>", "exec"), module.__dict__)
    module.__orsim_exported_source__ = source  # what source-reading tests parse instead
    module.__path__ = []  # importable as a package: `import pipe.errors` finds the alias below
    sys.modules["pipe"] = module
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
        if parts == ("__init__",):
            continue
        if parts[-1] == "__init__":  # a subpackage: `pipe.storage` stands in too
            parts = parts[:-1]
        sys.modules[".".join(("pipe", *parts))] = module
        if not hasattr(module, parts[0]):  # `import pipe.x; pipe.x.Name` works too
            setattr(module, parts[0], module)
    return module
