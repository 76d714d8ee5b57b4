"""Pytest fixtures for vehicle tests: the project's simulator by default, real SITL on request.

Register in the root ``tests/conftest.py`` with ``pytest_plugins = ["sitl.pytest_plugin"]``
(pytest only allows ``pytest_plugins`` in the root conftest; ``tests/sitl/conftest.py`` therefore
star-imports these fixtures instead).

* ``vehicle_backend``: ``"sim"`` or ``"sitl"`` from ``DISPATCH_VEHICLE_BACKEND`` (default sim).
* ``sitl_binary``: the arducopter path; skips with :data:`SITL_MISSING_REASON` when absent.
* ``sim_vehicle``: a started :class:`SimVehicle` at the Caiyuan test pad, speed-up 20.
* ``vehicle_url``: a MAVLink URL. With backend ``sim`` it is a simulator, except for tests marked
  ``@pytest.mark.sitl``, which get real SITL or skip. With backend ``sitl`` (``make test-sitl``)
  every test gets real SITL and the fixture *fails* when no binary is present.

Importing this module sets ``MAVLINK20=1`` (if unset) so pymavlink's ``mavutil`` connections made
by tests speak MAVLink 2 from the first packet (fence and rally transfers need MAVLink 2).
"""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from sitl.launcher import SITL_MISSING_REASON, SitlProcess, SitlSpec, find_sitl_binary  # noqa: E402
from sitl.simvehicle import SimVehicle, SimVehicleConfig  # noqa: E402

BACKEND_ENV = "DISPATCH_VEHICLE_BACKEND"
#: Caiyuan (Sijiao) test pad: label position, not a surveyed pad.
TEST_PAD = {"lat_deg": 30.7245, "lon_deg": 122.4520, "alt_m": 10.0}
TEST_SPEEDUP = 20.0
SITL_TEST_INSTANCE = 41  # high instance number: port 6170, away from a developer's own SITL


@pytest.fixture(scope="session")
def vehicle_backend() -> str:
    """Return "sim" or "sitl" from DISPATCH_VEHICLE_BACKEND (default "sim")."""
    backend = os.environ.get(BACKEND_ENV, "sim").strip().lower() or "sim"
    if backend not in ("sim", "sitl"):
        raise pytest.UsageError(f"{BACKEND_ENV} must be 'sim' or 'sitl', not {backend!r}")
    return backend


@pytest.fixture(scope="session")
def sitl_binary() -> Path:
    """Return the arducopter binary, or skip the test with a clear reason."""
    binary = find_sitl_binary()
    if binary is None:
        pytest.skip(SITL_MISSING_REASON)
    return binary


def make_sim_config(**overrides: object) -> SimVehicleConfig:
    """Return the test pad's :class:`SimVehicleConfig` with keyword overrides."""
    base: dict[str, object] = dict(sysid=1, home_lat_deg=TEST_PAD["lat_deg"], home_lon_deg=TEST_PAD["lon_deg"],
                                   home_alt_m=TEST_PAD["alt_m"], heading_deg=0.0, speedup=TEST_SPEEDUP,
                                   port=0, gps_warmup_s=4.0)
    base.update(overrides)
    return SimVehicleConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def sim_vehicle() -> Iterator[SimVehicle]:
    """Yield a started simulator at the test pad (speed-up 20, 4 s simulated GPS/EKF warm-up)."""
    with SimVehicle(make_sim_config()) as vehicle:
        yield vehicle


@pytest.fixture
def vehicle_url(request: pytest.FixtureRequest, vehicle_backend: str) -> Iterator[str]:
    """Yield a MAVLink URL of a vehicle at the test pad (simulator or real SITL, see module doc)."""
    wants_sitl = vehicle_backend == "sitl" or request.node.get_closest_marker("sitl") is not None
    if not wants_sitl:
        with SimVehicle(make_sim_config()) as vehicle:
            yield vehicle.url
        return
    binary = find_sitl_binary()
    if binary is None:
        if vehicle_backend == "sitl":
            pytest.fail(f"{BACKEND_ENV}=sitl but {SITL_MISSING_REASON}", pytrace=False)
        pytest.skip(SITL_MISSING_REASON)
    spec = SitlSpec(binary=binary, home_lat_deg=TEST_PAD["lat_deg"], home_lon_deg=TEST_PAD["lon_deg"],
                    home_alt_m=TEST_PAD["alt_m"], speedup=TEST_SPEEDUP, instance=SITL_TEST_INSTANCE, sysid=1)
    with SitlProcess(spec) as process:
        yield process.url
