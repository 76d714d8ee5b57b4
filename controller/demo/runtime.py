"""Run the controller (HTTP API + console + sortie executor) and the simulated network in one process.

Used by ``dispatch up`` (until Ctrl-C) and ``dispatch demo`` (for a number of simulated hours). Both
install a :class:`~controller.clock.ScaledClock` as the process clock for the run, so every
timestamp the controller stores is simulated time, and restore the previous clock afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import uvicorn

from controller.api.app import create_app
from controller.clock import ScaledClock, use_clock
from controller.demo.network import NetworkConfig, SimulatedNetwork, writer_session_factory
from controller.scenario import Scenario
from controller.settings import Settings


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
        network = SimulatedNetwork(factory=factory, scenario=scenario, clock=clock, config=config,
                                   secret_key=settings.secret_key, events=app.state.events)
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
                    await asyncio.to_thread(network.step)
                    if tick:
                        tick(clock())
                    await asyncio.sleep(min(1.0, max(0.1, 30.0 / config.speedup)))
                interrupted = server_task.done()
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await server_task
            await asyncio.to_thread(network.stop)
            engine.dispose()
        return RunResult(started_at=start_at, ended_at=clock(), network=network, interrupted=interrupted)
