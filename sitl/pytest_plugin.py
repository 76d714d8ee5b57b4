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
* ``vehicle_factory`` / ``vehicle``: backend-agnostic vehicles (:class:`TestVehicle`) for the selected
  backend, both loaded with ``sitl/params/island_copter.parm`` (the simulator takes the names it
  models). Tests talk to them only over MAVLink; ``TestVehicle.sim`` is for checks that only the
  simulator can make, written with :func:`require_sim` so they skip on SITL with a reason.
* ``fault_proxy``: a factory of started :class:`sitl.faultproxy.FaultProxy` in front of a vehicle
  (frame loss, duplication, reordering, delay, cut), stopped after the test.

Importing this module sets ``MAVLINK20=1`` (if unset) so pymavlink's ``mavutil`` connections made
by tests speak MAVLink 2 from the first packet (fence and rally transfers need MAVLink 2).
"""

from __future__ import annotations

import os

os.environ.setdefault("MAVLINK20", "1")

from collections.abc import Callable, Iterator, Mapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from sitl.faultproxy import NO_FAULTS, FaultProxy, FrameFaults  # noqa: E402
from sitl.launcher import (  # noqa: E402
    SITL_MISSING_REASON,
    SitlProcess,
    SitlSpec,
    default_params_file,
    find_sitl_binary,
)
from sitl.params import read_parm_file, simulator_subset  # noqa: E402
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


# --- backend-agnostic vehicles -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TestVehicle:
    """A started vehicle of either backend, reached at ``url`` (MAVLink 2 over TCP).

    ``sim`` is the :class:`SimVehicle` on the simulator backend and None on SITL: use it only
    through :func:`require_sim`, for checks nothing but the simulator can show.
    """

    __test__ = False  # not a test class, despite the name

    backend: str
    url: str
    sysid: int
    home_lat_deg: float
    home_lon_deg: float
    home_alt_m: float
    speedup: float
    sim: SimVehicle | None = None

    @property
    def gcs_heartbeat_period_s(self) -> float:
        """Wall seconds between our GCS heartbeats: one per *simulated* second, like a real GCS at 1 Hz.

        Both backends run the GCS failsafe timer (FS_GCS_TIMEOUT) in simulated time.
        """
        return 1.0 / self.speedup

    def sim_seconds(self, wall_s: float) -> float:
        """Convert wall-clock seconds into the vehicle's simulated seconds."""
        return wall_s * self.speedup


VehicleFactory = Callable[..., TestVehicle]


@cache
def island_params() -> dict[str, float]:
    """The SITL defaults file ``sitl/params/island_copter.parm`` as {name: value}."""
    return read_parm_file(default_params_file().read_text())


def require_sim(vehicle: TestVehicle, reason: str) -> SimVehicle:
    """Return the simulator behind ``vehicle``, or skip: ``reason`` says what only it can show."""
    if vehicle.sim is None:
        pytest.skip(f"sim-only check ({reason}); not observable over MAVLink on real SITL")
    return vehicle.sim


def require_sim_backend(backend: str, reason: str) -> None:
    """Skip unless the simulator backend is selected (for tests that configure a simulator)."""
    if backend != "sim":
        pytest.skip(f"sim-only check ({reason}); real SITL has no such switch")


@pytest.fixture
def vehicle_factory(vehicle_backend: str) -> Iterator[VehicleFactory]:
    """Yield ``make(*, sysid=None, lat_deg=…, lon_deg=…, alt_m=…, speedup=20, params=None)``.

    Each call starts one vehicle of the selected backend at that home (the test pad by default);
    the n-th vehicle gets sysid n + 1 unless given, and on SITL instance 41 + n. ``params`` are extra
    boot defaults on top of ``island_copter.parm``. Everything started is stopped after the test.
    """
    stops: list[Callable[[], None]] = []

    def make(*, sysid: int | None = None, lat_deg: float = TEST_PAD["lat_deg"],
             lon_deg: float = TEST_PAD["lon_deg"], alt_m: float = TEST_PAD["alt_m"],
             speedup: float = TEST_SPEEDUP, params: Mapping[str, float] | None = None) -> TestVehicle:
        index = len(stops)
        sysid = index + 1 if sysid is None else sysid
        defaults = {**island_params(), **(params or {})}
        if vehicle_backend == "sim":
            known, _ignored = simulator_subset(defaults)
            sim = SimVehicle(make_sim_config(sysid=sysid, home_lat_deg=lat_deg, home_lon_deg=lon_deg,
                                             home_alt_m=alt_m, speedup=speedup, seed=index, params=known))
            sim.start()
            stops.append(sim.stop)
            return TestVehicle(backend="sim", url=sim.url, sysid=sysid, home_lat_deg=lat_deg,
                               home_lon_deg=lon_deg, home_alt_m=alt_m, speedup=speedup, sim=sim)
        binary = find_sitl_binary()
        if binary is None:
            pytest.fail(f"{BACKEND_ENV}=sitl but {SITL_MISSING_REASON}", pytrace=False)
        spec = SitlSpec(binary=binary, home_lat_deg=lat_deg, home_lon_deg=lon_deg, home_alt_m=alt_m,
                        speedup=speedup, instance=SITL_TEST_INSTANCE + index, sysid=sysid,
                        extra_params=tuple((params or {}).items()))
        process = SitlProcess(spec).start()
        stops.append(process.stop)
        return TestVehicle(backend="sitl", url=process.url, sysid=sysid, home_lat_deg=lat_deg,
                           home_lon_deg=lon_deg, home_alt_m=alt_m, speedup=speedup)

    try:
        yield make
    finally:
        for stop in reversed(stops):
            stop()


@pytest.fixture
def vehicle(vehicle_factory: VehicleFactory) -> TestVehicle:
    """One vehicle of the selected backend at the test pad (sysid 1, speed-up 20)."""
    return vehicle_factory()


ProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def fault_proxy() -> Iterator[ProxyFactory]:
    """Yield ``make(vehicle_or_url, *, to_vehicle=FrameFaults(), to_gcs=FrameFaults(), seed=0)``.

    Returns a started :class:`FaultProxy`; connect the controller to its ``url``.
    """
    proxies: list[FaultProxy] = []

    def make(target: TestVehicle | str, *, to_vehicle: FrameFaults = NO_FAULTS, to_gcs: FrameFaults = NO_FAULTS,
             seed: int = 0) -> FaultProxy:
        url = target.url if isinstance(target, TestVehicle) else target
        proxy = FaultProxy(url, to_vehicle=to_vehicle, to_gcs=to_gcs, seed=seed).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.stop()
