"""Function files for `orsim bench openwebui` (Open WebUI function files, not imported)."""

from pathlib import Path

HERE = Path(__file__).parent
BARE_PIPE = HERE / "bare_pipe.py"
COALESCING_PIPE = HERE / "coalescing_pipe.py"
