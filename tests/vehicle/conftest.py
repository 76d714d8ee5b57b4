"""Vehicle-suite fixtures: the simulator helper's pytest plugin when it is present."""

from __future__ import annotations

try:
    from sitl.pytest_plugin import *  # noqa: F401,F403 - sim_vehicle, vehicle_url fixtures
except ImportError:  # the simulator is not in this checkout yet; integration tests skip themselves
    pass
