"""Fixtures for the sitl tests.

pytest forbids ``pytest_plugins`` outside the root conftest, so the plugin's fixtures are
star-imported here; once the root conftest registers ``sitl.pytest_plugin`` this stays harmless.
"""

from sitl.pytest_plugin import *  # noqa: F401,F403
