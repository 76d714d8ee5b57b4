"""Command-line front end of the simulator: prints the pty path, then takes commands on stdin.

Output contract: the first line of stdout is the pty path, plain text (e.g. ``/dev/pts/7``), so a
script can do ``read -r PORT``. Later lines answer commands as JSON objects, one per line.
The simulator runs until stdin says ``quit``, or SIGINT/SIGTERM (stdin at EOF keeps it running).

Commands (one per line)::

    close B L | open B L          a person closes / opens door L of board B
    jam B L | unjam B L           lock fails to open / works again
    occupy B L | vacate B L       parcel sensor (needs --occupancy)
    power off|on [B]              cut / restore power (all boards if B omitted)
    fault NAME [B] [TIMES]        inject a fault into the next replies (names: see Fault)
    delay unlock|door|board MS [TIMES]
                                  answer the next request(s) of that kind MS ms late (acts at once)
    clear                         remove pending faults and delays
    state [B]                     print door states
    quit
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TextIO

import click

from locker_driver.frames import BoardQuery, DoorQuery, UnlockRequest
from locker_driver.sim.simulator import BoardSimulator, Fault


_DELAYABLE = {"unlock": UnlockRequest, "door": DoorQuery, "board": BoardQuery}


def _boards(text: str) -> list[int]:
    try:
        boards = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated board addresses, e.g. 1,2") from None
    if not boards or not all(0 <= b <= 255 for b in boards):
        raise click.BadParameter("board addresses are 0-255")
    return boards


def _state(sim: BoardSimulator, boards: list[int]) -> dict[str, object]:
    return {
        str(b): {
            "powered": sim.is_powered(b),
            "open": [lock for lock, is_open in sim.door_states(b).items() if is_open],
        }
        for b in boards
    }


def run_command(sim: BoardSimulator, boards: list[int], line: str) -> dict[str, object] | None:
    """Apply one console command; return the JSON-able answer (None for ``quit``).

    Raises:
        ValueError: unknown command or bad arguments.
    """
    words = line.split()
    if not words:
        return {}
    verb, args = words[0], words[1:]
    nums = [int(a) for a in args if a.isdigit()]
    match verb, nums:
        case "quit", _:
            return None
        case (("close" | "open" | "jam" | "unjam" | "occupy" | "vacate"), [b, lock]):
            {
                "close": sim.close_door,
                "open": sim.open_door,
                "jam": lambda b, lock: sim.jam(b, lock, True),
                "unjam": lambda b, lock: sim.jam(b, lock, False),
                "occupy": lambda b, lock: sim.set_occupied(b, lock, True),
                "vacate": lambda b, lock: sim.set_occupied(b, lock, False),
            }[verb](b, lock)
        case "power", _ if args and args[0] in ("on", "off"):
            board = nums[0] if nums else None
            (sim.power_on if args[0] == "on" else sim.power_off)(board)
        case "fault", _ if args:
            fault = Fault(args[0])
            board = nums[0] if len(nums) >= 1 else None
            times = nums[1] if len(nums) >= 2 else 1
            sim.set_fault(fault, board=board, times=times)
        case "delay", [ms, *rest] if args and args[0] in _DELAYABLE:
            sim.delay_replies(_DELAYABLE[args[0]], ms / 1000, times=rest[0] if rest else 1)
        case "clear", _:
            sim.clear_faults()
        case "state", _:
            pass
        case _:
            raise ValueError(f"unknown command {line!r}")
    return {"ok": True, "boards": _state(sim, nums[:1] if verb == "state" and nums else boards)}


def serve(sim: BoardSimulator, boards: list[int], stdin: TextIO, stdout: TextIO) -> None:
    """Print the pty path, then serve console commands until quit or a signal."""
    done = threading.Event()
    print(sim.port_path, file=stdout, flush=True)

    def read_commands() -> None:
        for line in stdin:
            try:
                answer = run_command(sim, boards, line)
            except (ValueError, RuntimeError) as error:
                answer = {"ok": False, "error": str(error)}
            if answer is None:
                break
            if answer:
                print(json.dumps(answer), file=stdout, flush=True)
        else:
            return  # stdin at EOF: keep serving until a signal
        done.set()

    threading.Thread(target=read_commands, name="sim-console", daemon=True).start()
    done.wait()


@click.command("sim")
@click.option("--boards", "boards_text", default="1", show_default=True, help="Board addresses, e.g. 1,2.")
@click.option("--locks", default=24, show_default=True, type=click.IntRange(1, 24), help="Locks per board.")
@click.option("--occupancy", is_flag=True, help="Simulate parcel sensors.")
@click.option("--echo", is_flag=True, help="Echo requests like an RS-485 adapter without echo suppression.")
@click.option(
    "--pulse-ms", default=50.0, show_default=True, type=click.FloatRange(0), help="Unlock pulse, ms."
)
@click.option(
    "--auto-close-s", type=click.FloatRange(0), default=None, help="Doors close by themselves after N s."
)
def sim_command(
    boards_text: str, locks: int, occupancy: bool, echo: bool, pulse_ms: float, auto_close_s: float | None
) -> None:
    """Simulate lock boards on a pseudo-terminal; print its path on the first line."""
    boards = _boards(boards_text)
    sim = BoardSimulator(
        boards=boards,
        locks=locks,
        pulse_s=pulse_ms / 1000,
        echo=echo,
        occupancy=occupancy,
        auto_close_s=auto_close_s,
    )

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    with sim:
        try:
            serve(sim, boards, sys.stdin, sys.stdout)
        except KeyboardInterrupt:
            pass
