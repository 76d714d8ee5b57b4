"""`locker-agent board …` and `python -m locker_driver.sim` against the simulator's pty."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys

import pytest
from click.testing import CliRunner

from locker_driver import DoorState, open_bus
from locker_driver.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def board_args(sim, *rest: str) -> list[str]:
    return ["board", "--port", sim.port_path, "--timeout-s", "0.3", *rest]


def test_status_prints_every_door_as_json(sim) -> None:
    sim.open_door(1, 3)
    result = invoke(*board_args(sim, "status", "1"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["board"] == 1 and doc["open"] == [3]
    assert doc["doors"]["3"] == "open" and doc["doors"]["24"] == "closed" and len(doc["doors"]) == 24


def test_status_of_one_lock(sim) -> None:
    result = invoke(*board_args(sim, "status", "2", "--lock", "5"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"board": 2, "lock": 5, "state": "closed"}


def test_open_unlocks_and_prints_json(sim) -> None:
    result = invoke(*board_args(sim, "open", "1", "7"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"board": 1, "lock": 7, "opened": True}
    assert sim.door_is_open(1, 7)


def test_jammed_lock_exits_1_with_a_clear_message(sim) -> None:
    sim.jam(1, 7)
    result = invoke(*board_args(sim, "open", "1", "7"))
    assert result.exit_code == 1
    assert "did not open" in result.stderr and result.stdout == ""


def test_timeout_exits_1_with_a_clear_message(sim) -> None:
    result = invoke(*board_args(sim, "--attempts", "1", "status", "5"))
    assert result.exit_code == 1
    assert "no reply from board 5" in result.stderr


def test_missing_port_exits_1(tmp_path) -> None:
    result = invoke("board", "--port", str(tmp_path / "nope"), "status", "1")
    assert result.exit_code == 1
    assert "serial link" in result.stderr


@pytest.mark.parametrize("args", [["open", "1", "25"], ["status"], ["open", "x", "1"]])
def test_bad_usage_exits_2(sim, args) -> None:
    assert invoke(*board_args(sim, *args)).exit_code == 2


def _readline(stream, timeout_s: float = 10.0) -> str:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    assert ready, "simulator printed nothing"
    return stream.readline()


def test_simulator_cli_prints_its_pty_then_obeys_console_commands() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "locker_driver.sim", "--boards", "1,2", "--echo", "--pulse-ms", "10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    try:
        path = _readline(proc.stdout).strip()
        assert os.path.exists(path)
        with open_bus(path, timeout_s=0.5, echo=True) as bus:
            bus.unlock(2, 4)
            proc.stdin.write("state 2\n")
            assert json.loads(_readline(proc.stdout))["boards"]["2"]["open"] == [4]
            proc.stdin.write("close 2 4\n")
            assert json.loads(_readline(proc.stdout))["ok"] is True
            assert bus.door_state(2, 4) is DoorState.CLOSED
            proc.stdin.write("fault bogus\n")
            assert json.loads(_readline(proc.stdout))["ok"] is False
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
