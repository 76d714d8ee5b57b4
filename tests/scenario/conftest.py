"""Shared fixtures for the scenario tests."""

import pytest

from controller.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def shengsi() -> Scenario:
    return load_scenario("shengsi")
