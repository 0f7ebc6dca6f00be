"""pipe/owui.py: Open WebUI's engine, data dir and secret when it is there; clean fallbacks
when it is not. Each case runs in a fresh interpreter (the adapter caches its imports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import asyncio, json
    from pipe import owui
    from pipe.storage.database import choose_target, Database

    async def main():
        target = choose_target("")
        db = Database(target)
        await db.ready()
        print(json.dumps({
            "available": owui.open_webui_available(),
            "data_dir": str(owui.data_dir()),
            "secret": owui.webui_secret_key(),
            "url": target.url,
            "shared": target.shared,
            "schema": target.schema,
        }))
        await db.dispose()

    asyncio.run(main())
    """
)


def _probe(tmp_path: Path, extra_path: str = "", **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "WEBUI_SECRET_KEY")}
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(REPO)) if p)
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_open_webui_the_pipe_uses_sqlite_in_data_dir(tmp_path: Path):
    data = tmp_path / "data"
    got = _probe(tmp_path, DATA_DIR=str(data), WEBUI_SECRET_KEY="s3")
    assert got["available"] is False and got["secret"] == "s3"
    assert got["url"] == f"sqlite+aiosqlite:///{data}/openrouter_pipe.db" and not got["shared"]
    assert (data / "openrouter_pipe.db").exists()


def test_without_data_dir_the_working_directory_is_used(tmp_path: Path):
    got = _probe(tmp_path)
    assert got["data_dir"] == str(tmp_path) and got["secret"] == ""
    assert (tmp_path / "openrouter_pipe.db").exists()


def test_inside_open_webui_its_engine_data_dir_and_secret_are_used(tmp_path: Path):
    fake = tmp_path / "site"
    (fake / "open_webui" / "internal").mkdir(parents=True)
    owui_data = tmp_path / "owui-data"
    owui_data.mkdir()
    (fake / "open_webui" / "__init__.py").write_text("")
    (fake / "open_webui" / "internal" / "__init__.py").write_text("")
    (fake / "open_webui" / "env.py").write_text(
        f"from pathlib import Path\nDATA_DIR = Path({str(owui_data)!r})\n"
        "WEBUI_SECRET_KEY = 'owui-secret'\nDATABASE_SCHEMA = None\n"
    )
    (fake / "open_webui" / "internal" / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        f"async_engine = create_async_engine('sqlite+aiosqlite:///{owui_data}/webui.db')\n"
    )
    got = _probe(tmp_path, str(fake), DATA_DIR="/nonexistent", WEBUI_SECRET_KEY="env-secret")
    assert got["available"] is True and got["shared"] is True
    assert got["data_dir"] == str(owui_data) and got["secret"] == "owui-secret"
    assert got["url"] == f"sqlite+aiosqlite:///{owui_data}/webui.db"
    assert not (owui_data / "openrouter_pipe.db").exists()  # no second database file


def test_an_open_webui_that_fails_to_import_degrades_cleanly(tmp_path: Path):
    fake = tmp_path / "site"
    (fake / "open_webui").mkdir(parents=True)
    (fake / "open_webui" / "__init__.py").write_text("")
    (fake / "open_webui" / "env.py").write_text("raise SystemExit('WEBUI_SECRET_KEY is not set')\n")
    got = _probe(tmp_path, str(fake), DATA_DIR=str(tmp_path / "d"))
    assert got["available"] is False and got["url"].endswith("/d/openrouter_pipe.db")
