"""Wire the agent together and run it: the door watchdog, the sync loop and the web server, owned by
one ``asyncio.TaskGroup`` (used by ``locker-agent run``)."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from locker_driver import LockerBus, open_bus
from locker_driver.agent.clock import Clock, SystemClock
from locker_driver.agent.gps import FeedGps, SimulatedGps
from locker_driver.agent.line import LineProcess
from locker_driver.agent.notifier import LoggingNotifier, Notifier
from locker_driver.agent.service import DEFAULT_LAYOUT, AgentConfig, LockerService, parse_layout
from locker_driver.agent.store import Store
from locker_driver.agent.sync import SyncClient
from locker_driver.agent.web import Couriers, create_web_app

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Everything ``locker-agent run`` needs (times in s)."""

    port_url: str
    controller_url: str
    token: str
    config: AgentConfig
    db_path: Path
    couriers: dict[str, str]
    layout: str = DEFAULT_LAYOUT
    baudrate: int = 9600
    inter_frame_gap_s: float | None = None  # None: 3.5 characters at ``baudrate`` (see transport)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    gps_token: str | None = None  # None: no GPS feed, the locker counts as standing still
    poll_s: float = 0.25
    sync_interval_s: float = 5.0
    # The serial line and the intents' fsync in a child process, so the agent uses a second core
    # (``line.py``); False: in a worker thread of this process.
    line_process: bool = True
    clock: Clock = field(default_factory=SystemClock)
    notifier: Notifier = field(default_factory=LoggingNotifier)


async def run_agent(options: RunOptions, stop: asyncio.Event) -> None:
    """Run until ``stop`` is set; every task is cancelled and the line closed on the way out."""
    store = Store(options.db_path)
    store.install_layout(parse_layout(options.layout))
    # With a GPS feed, a missing/stale fix locks the doors; without one the locker is fixed in place.
    gps = FeedGps(options.clock) if options.gps_token else SimulatedGps(options.clock, speed_kmh=0.0)
    # The line in a child process, or the bus for the service's in-process line (``line.py``).
    line: LineProcess | None = None
    bus: LockerBus | None = None
    if options.line_process:
        line = LineProcess(options.port_url, baudrate=options.baudrate,
                           inter_frame_gap_s=options.inter_frame_gap_s, wal_path=store.wal_path,
                           unlock_tries=options.config.unlock_tries)
    else:
        bus = open_bus(options.port_url, options.baudrate, inter_frame_gap_s=options.inter_frame_gap_s)
    try:
        service = LockerService(config=options.config, store=store, clock=options.clock, gps=gps,
                                notifier=options.notifier, bus=bus, line=line)
        sync = SyncClient(base_url=options.controller_url, token=options.token, locker_id=options.config.locker_id,
                          service=service, store=store, clock=options.clock, interval_s=options.sync_interval_s)
        app = create_web_app(service, couriers=Couriers(options.couriers), gps=gps, gps_token=options.gps_token)
        server = uvicorn.Server(uvicorn.Config(app, host=options.http_host, port=options.http_port,
                                               log_level="warning", lifespan="off"))

        async def stop_server() -> None:
            await stop.wait()
            server.should_exit = True

        # What start-up built (modules, the app, the store's rows) lives as long as the agent: out of the
        # collector's way, so a full collection does not stall every pickup (measured: 30-45 ms pauses
        # at 500 pickups/s, a large share of the p99).
        gc.collect()
        gc.freeze()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(service.run(stop, period_s=options.poll_s))
            tasks.create_task(sync.run(stop))
            tasks.create_task(server.serve())
            tasks.create_task(stop_server())
        await sync.aclose()
    finally:
        for opened in (line, bus):
            if opened is not None:
                opened.close()
        store.close()
