"""``locker-agent`` command line: talk to lock boards, run the simulator.

Exit codes: 0 ok; 1 device error (timeout, bad reply, door did not open, port cannot be opened),
with a one-line message on stderr; 2 bad usage (click's convention).

Other commands attach to :data:`main` (``@main.command()``) or :data:`board`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from locker_driver import DoorState, LockerBus, LockerError, open_bus
from locker_driver.bus import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT_S
from locker_driver.sim.console import sim_command


@click.group()
def main() -> None:
    """Drive serial lock-control boards of bus-borne smart lockers."""


@main.group()
@click.option(
    "--port", "url", required=True, envvar="LOCKER_PORT", help="Serial URL: /dev/ttyUSB0, pty, socket://…"
)
@click.option("--baudrate", default=9600, show_default=True, type=click.IntRange(1), help="Line speed, baud.")
@click.option(
    "--timeout-s",
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    type=click.FloatRange(0.001),
    help="Reply wait per attempt, s.",
)
@click.option("--attempts", default=DEFAULT_ATTEMPTS, show_default=True, type=click.IntRange(1))
@click.option("--echo", is_flag=True, help="Adapter echoes what it sends; drop the copy.")
@click.pass_context
def board(ctx: click.Context, url: str, baudrate: int, timeout_s: float, attempts: int, echo: bool) -> None:
    """Commands for boards on one serial line."""
    ctx.obj = {"url": url, "baudrate": baudrate, "timeout_s": timeout_s, "attempts": attempts, "echo": echo}


def _run(ctx: click.Context, action: Callable[[LockerBus], dict[str, Any]]) -> None:
    """Open the bus, run ``action``, print its JSON; map driver errors to exit code 1."""
    options = ctx.obj
    try:
        with open_bus(
            options["url"],
            options["baudrate"],
            timeout_s=options["timeout_s"],
            attempts=options["attempts"],
            echo=options["echo"],
        ) as bus:
            result = action(bus)
    except LockerError as error:
        click.echo(f"error: {error}", err=True)
        ctx.exit(1)
    click.echo(json.dumps(result))


@board.command()
@click.argument("board_address", metavar="BOARD", type=click.IntRange(0, 255))
@click.option("--lock", type=click.IntRange(1, 24), default=None, help="Query one door only.")
@click.pass_context
def status(ctx: click.Context, board_address: int, lock: int | None) -> None:
    """Print door states of BOARD as JSON."""

    def action(bus: LockerBus) -> dict[str, Any]:
        if lock is not None:
            return {"board": board_address, "lock": lock, "state": bus.door_state(board_address, lock).value}
        states = bus.door_states(board_address)
        return {
            "board": board_address,
            "doors": {str(n): s.value for n, s in states.items()},
            "open": [n for n, s in states.items() if s is DoorState.OPEN],
        }

    _run(ctx, action)


@board.command("open")
@click.argument("board_address", metavar="BOARD", type=click.IntRange(0, 255))
@click.argument("lock", type=click.IntRange(1, 24))
@click.option("--confirm", is_flag=True, help="Query the door after an 'opened' reply too.")
@click.pass_context
def open_(ctx: click.Context, board_address: int, lock: int, confirm: bool) -> None:
    """Unlock LOCK on BOARD; print JSON."""

    def action(bus: LockerBus) -> dict[str, Any]:
        bus.unlock(board_address, lock, confirm=confirm)
        return {"board": board_address, "lock": lock, "opened": True}

    _run(ctx, action)


main.add_command(sim_command)


@main.command()
@click.option("--port", "port_url", required=True, envvar="LOCKER_PORT", help="Lock-board serial URL.")
@click.option("--controller", "controller_url", required=True, envvar="LOCKER_CONTROLLER",
              help="Controller base URL, e.g. https://dispatch.example")
@click.option("--token", required=True, envvar="LOCKER_TOKEN", help="API token of the kiosk user locker:<ID>.")
@click.option("--locker", "locker_id", required=True, envvar="LOCKER_ID", help="Locker id, e.g. locker-bus-huaniao-1.")
@click.option("--code-key", required=True, envvar="LOCKER_CODE_KEY",
              help="HMAC key of pickup codes (controller: lockers.locker_code_key).")
@click.option("--db", "db_path", default="locker-agent.sqlite", show_default=True, envvar="LOCKER_DB",
              type=click.Path(dir_okay=False), help="Device-local SQLite database.")
@click.option("--layout", default="1:S*12,M*8,L*4", show_default=True, help="Compartments 'BOARD:S*n,M*n,L*n;…'.")
@click.option("--courier", "couriers", multiple=True, envvar="LOCKER_COURIERS", metavar="NAME:PIN",
              help="A courier allowed to deposit (repeatable).")
@click.option("--http-host", default="127.0.0.1", show_default=True)
@click.option("--http-port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--gps-token", default=None, envvar="LOCKER_GPS_TOKEN",
              help="Enable POST /api/gps for the bus GPS feed; without it the locker counts as parked.")
@click.option("--baudrate", default=9600, show_default=True, type=click.IntRange(1))
@click.option("--inter-frame-gap-ms", "inter_frame_gap_ms", default=None, type=click.FloatRange(0),
              help="Idle line time before each request, ms (default 3.5 characters: 3.6 ms at 9600 baud).")
@click.option("--sync-interval-s", default=5.0, show_default=True, type=click.FloatRange(0.1),
              help="Wait between successful controller syncs, s.")
@click.option("--line-process/--no-line-process", default=True, show_default=True,
              help="Serial line and intent fsync in a child process (uses a second core).")
def run(port_url: str, controller_url: str, token: str, locker_id: str, code_key: str, db_path: str, layout: str,
        couriers: tuple[str, ...], http_host: str, http_port: int, gps_token: str | None, baudrate: int,
        inter_frame_gap_ms: float | None, sync_interval_s: float, line_process: bool) -> None:
    """Run the locker agent: kiosk and courier pages, door watchdog, controller sync."""
    import asyncio
    import contextlib
    import logging
    import signal
    from pathlib import Path

    from locker_driver.agent.runtime import RunOptions, run_agent
    from locker_driver.agent.service import AgentConfig, parse_layout

    try:
        parse_layout(layout)
        pins = dict(item.split(":", 1) for item in couriers)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = RunOptions(port_url=port_url, controller_url=controller_url, token=token,
                         config=AgentConfig(locker_id=locker_id, code_key=code_key), db_path=Path(db_path),
                         couriers=pins, layout=layout, baudrate=baudrate, http_host=http_host,
                         http_port=http_port, gps_token=gps_token, sync_interval_s=sync_interval_s,
                         inter_frame_gap_s=None if inter_frame_gap_ms is None else inter_frame_gap_ms / 1000,
                         line_process=line_process)

    async def main_task() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_agent(options, stop)

    try:
        # uvloop (installed with uvicorn[standard]) where there is one, as uvicorn itself picks: its
        # faster HTTP handling and thread wake-ups took the pickup bench from ~500 to ~600 req/s.
        run_loop = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop

            run_loop = uvloop.run
        run_loop(main_task())
    except* LockerError as group:
        click.echo(f"error: {group.exceptions[0]}", err=True)
        raise SystemExit(1) from None
