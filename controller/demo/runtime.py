"""Run the controller (HTTP API + console + sortie executor) and the simulated network in one process.

Used by ``dispatch up`` (until Ctrl-C) and ``dispatch demo`` (for a number of simulated hours). Both
install a :class:`~controller.clock.ScaledClock` as the process clock for the run, so every
timestamp the controller stores is simulated time, and restore the previous clock afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controller.api.app import create_app
from controller.clock import ScaledClock, use_clock
from controller.db.models import TransportLine
from controller.demo.bus_lockers import BusLockerFleet
from controller.demo.network import NetworkConfig, SimulatedNetwork, writer_session_factory
from controller.demo.timetable import Line
from controller.scenario import Scenario
from controller.settings import Settings

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def vehicle_settings(settings: Settings, speedup: float) -> Settings:
    """The controller settings for flying simulated vehicles ``speedup`` times faster than real time."""
    return settings.model_copy(update={
        "run_vehicles": True,
        "gcs_heartbeat_period_s": min(1.0, 1.0 / speedup),
        "executor_tick_s": min(1.0, max(0.1, 5.0 / speedup)),
    })


@dataclass(frozen=True, kw_only=True)
class RunResult:
    started_at: datetime
    ended_at: datetime
    network: SimulatedNetwork
    interrupted: bool


async def start_bus_lockers(*, factory: sessionmaker[Session], settings: Settings, scenario: Scenario,
                            config: NetworkConfig, clock: ScaledClock, controller_url: str) -> BusLockerFleet | None:
    """Start the real locker stack on every bus (:class:`BusLockerFleet`); None if it cannot start, in
    which case the network falls back to the stand-in that writes the locker tables directly."""
    with factory() as session:
        lines = {row.id: Line.from_definition(line_id=row.id, mode=row.mode, definition=row.definition)
                 for row in session.scalars(select(TransportLine))}
    fleet = BusLockerFleet(factory=factory, lines=lines, controller_url=controller_url,
                           secret_key=settings.secret_key, data_dir=settings.data_dir / "demo-lockers", clock=clock,
                           tz=ZoneInfo(scenario.timezone), seed=config.seed, pickup_delay_s=config.pickup_delay_s)
    try:
        await fleet.start()
    except Exception:  # any start-up failure means the fallback, said loudly
        log.exception("BUS LOCKERS: the real locker stack (board simulator + agent + sync) failed to start; "
                      "FALLING BACK to the stand-in that writes the controller's locker tables directly")
        return None
    return fleet


async def run_day(*, settings: Settings, scenario: Scenario, config: NetworkConfig, start_at: datetime,
                  hours: float | None, host: str, port: int,
                  on_ready: Callable[[str], None] | None = None,
                  on_tick: Callable[[datetime, SimulatedNetwork], None] | None = None,
                  drain_s: float = 2700.0) -> RunResult:
    """Serve the controller on ``host:port`` with the simulated network until ``hours`` simulated hours
    have passed (None: until the server is told to stop, e.g. Ctrl-C).

    After the last hour no new parcels arrive and nothing is scheduled or approved; sorties already
    approved or flying get up to ``drain_s`` simulated seconds to land. Vehicles are stopped at the end.
    """
    clock = ScaledClock(start_at=start_at, speedup=config.speedup)
    settings = vehicle_settings(settings, config.speedup)
    with use_clock(clock):
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                                log_config=None, access_log=False))
        server_task = asyncio.create_task(server.serve(), name="http")
        while not server.started:
            if server_task.done():
                await server_task  # raises the start-up error
                raise RuntimeError(f"the HTTP server did not start on {host}:{port}")
            await asyncio.sleep(0.05)
        engine, factory = writer_session_factory(settings.resolved_database_url)
        fleet = await start_bus_lockers(factory=factory, settings=settings, scenario=scenario, config=config,
                                        clock=clock, controller_url=f"http://{host}:{port}")
        network = SimulatedNetwork(factory=factory, scenario=scenario, clock=clock, config=config,
                                   secret_key=settings.secret_key, events=app.state.events, fleet=fleet)
        interrupted = False
        try:
            await asyncio.to_thread(network.start)
            if on_ready:
                on_ready(f"http://{host}:{port}")
            until = None if hours is None else start_at + timedelta(hours=hours)
            tick = (lambda now: on_tick(now, network)) if on_tick else None
            net_task = asyncio.create_task(network.run(until=until, on_tick=tick), name="network")
            done, _ = await asyncio.wait({server_task, net_task}, return_when=asyncio.FIRST_COMPLETED)
            if server_task in done:
                interrupted = True
                net_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await net_task
            else:
                net_task.result()
                network.accepting = False
                drain_until = clock() + timedelta(seconds=drain_s)
                while not server_task.done() and clock() < drain_until:
                    if await asyncio.to_thread(network.active_sorties) == 0:
                        break
                    await network.advance()
                    if tick:
                        tick(clock())
                    await asyncio.sleep(min(1.0, max(0.1, 30.0 / config.speedup)))
                interrupted = server_task.done()
        finally:
            if fleet is not None:
                await fleet.stop()  # before the server: the agents' last events still sync
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await server_task
            await asyncio.to_thread(network.stop)
            engine.dispose()
        return RunResult(started_at=start_at, ended_at=clock(), network=network, interrupted=interrupted)
