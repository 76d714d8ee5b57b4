"""``locker-agent run`` as a process: on the simulated board, controller unreachable, it serves the
kiosk API after reconciling, records events offline and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx

from locker_driver.sim import BoardSimulator
from tests.locker_agent.live import free_port


def test_run_serves_offline_and_stops_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    http_port, dead_port = free_port(), free_port()
    with BoardSimulator(boards=[1], pulse_s=0.02) as sim:
        process = subprocess.Popen(
            [sys.executable, "-c", "from locker_driver.cli import main; main()", "run", "--port", sim.port_path,
             "--controller", f"http://127.0.0.1:{dead_port}", "--token", "dsp_x", "--locker", "locker-bus-huaniao-1",
             "--code-key", "k", "--db", str(tmp_path / "agent.sqlite"), "--courier", "wang:2468",
             "--http-port", str(http_port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{http_port}"
            deadline = time.monotonic() + 20
            status = None
            while time.monotonic() < deadline:
                try:
                    status = httpx.get(base + "/api/status", timeout=2).json()
                    if status["ready"]:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            assert status is not None and status["ready"] and len(status["compartments"]) == 24
            token = httpx.post(base + "/api/courier/login", json={"name": "wang", "pin": "2468"}).json()["token"]
            opened = httpx.post(base + "/api/courier/deposit", json={"parcel_id": "SS9"},
                                headers={"Authorization": f"Bearer {token}"}).json()
            assert opened["lock"] == 1 and sim.door_is_open(1, 1)
            assert httpx.get(base + "/").status_code == 200 and "取件" in httpx.get(base + "/").text
        finally:
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
