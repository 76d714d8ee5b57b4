"""Fixtures for the security tests: a line writer that shows counts even when output is captured."""

from __future__ import annotations

from collections.abc import Callable

import pytest

# The API fixtures (app on a migrated Shengsi database, one token per role) are shared with tests/controller.
from tests.controller.conftest import client, role_tokens, settings  # noqa: F401


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Write a line to the terminal (counts the issue asks to see), bypassing output capture."""
    return lambda line: write_line(request.config, line)


def write_line(config: pytest.Config, line: str) -> None:
    """Print ``line`` on the terminal even while pytest captures output."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)

