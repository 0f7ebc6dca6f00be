"""Root pytest configuration.

- Scenario files under scenarios/ are collected as tests.
- `--pipe-impl=exported` runs the pipe's tests against the exported single function file.
"""

import pytest

pytest_plugins = ["simulator.scenarios.pytest_plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pipe-impl",
        choices=("package", "exported"),
        default="package",
        help="Import `pipe` from the package (default) or from the exported function file.",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--pipe-impl") == "exported":
        from tests.export.exported_pipe import install_exported_pipe

        install_exported_pipe()
