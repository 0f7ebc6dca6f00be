"""Root pytest configuration: scenario files under scenarios/ are collected as tests."""

pytest_plugins = ["simulator.scenarios.pytest_plugin"]
