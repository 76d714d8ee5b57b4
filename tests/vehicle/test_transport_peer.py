"""Transport + link tests against a minimal pymavlink peer on a real TCP socket (no simulator).

The peer plays only the parts of an autopilot these tests need: heartbeats it can pause, and
PARAM_VALUE echoes. It checks what we put on the wire: MAVLink 2 frames from (255, 190) and a GCS
HEARTBEAT about once a second.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

os.environ.setdefault("MAVLINK20", "1")
from pymavlink import mavutil  # noqa: E402

from controller.vehicle.errors import ParamSetFailed  # noqa: E402
from controller.vehicle.manager import connect_vehicle  # noqa: E402

import pytest  # noqa: E402


class Peer:
    def __init__(self) -> None:
        self.conn = mavutil.mavlink_connection("tcpin:127.0.0.1:0", source_system=7, source_component=1,
                                               dialect="ardupilotmega")
        self.port = self.conn.listen.getsockname()[1]
        self.beating = threading.Event()
        self.beating.set()
        self.stop = threading.Event()
        self.gcs_heartbeats: list[tuple[float, int, int, bool]] = []
        self.params = {"RTL_ALT": 1500.0}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        next_beat = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if self.beating.is_set() and now >= next_beat and self.conn.port is not None:
                self.conn.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_QUADROTOR,
                                             mavutil.mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 3)
                next_beat = now + 0.2
            msg = self.conn.recv_match(blocking=True, timeout=0.05)
            if msg is None:
                continue
            if msg.get_type() == "HEARTBEAT":
                self.gcs_heartbeats.append((now, msg.get_srcSystem(), msg.get_srcComponent(),
                                            msg.get_msgbuf()[0] == 0xFD))
            elif msg.get_type() == "PARAM_SET" and msg.param_id in self.params:
                self.params[msg.param_id] = msg.param_value
                self.conn.mav.param_value_send(msg.param_id.encode(), msg.param_value, 9, 1, 0)
            elif msg.get_type() == "PARAM_REQUEST_READ" and msg.param_id in self.params:
                self.conn.mav.param_value_send(msg.param_id.encode(), self.params[msg.param_id], 9, 1, 0)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.conn.close()


@pytest.fixture
def peer():
    p = Peer()
    try:
        yield p
    finally:
        p.close()


async def test_gcs_heartbeat_is_mavlink2_at_1hz_and_link_loss_detected(peer):
    async with connect_vehicle(f"tcp:127.0.0.1:{peer.port}", stream_rate_hz=0) as link:
        assert link.sysid == 7
        with link.event_queue() as events:
            await link.wait_until(lambda v: len(peer.gcs_heartbeats) >= 3, timeout_s=5, what="3 GCS beats")
            times = [t for t, *_ in peer.gcs_heartbeats]
            gaps = [b - a for a, b in zip(times, times[1:])]
            assert all(0.7 < g < 1.5 for g in gaps), gaps
            assert all(src == (255, 190) and v2 for _t, *src_v2 in peer.gcs_heartbeats
                       for src, v2 in [((src_v2[0], src_v2[1]), src_v2[2])])
            peer.beating.clear()
            lost_at = time.monotonic()
            async with asyncio.timeout(6):
                while (ev := await events.get()).kind != "link_lost":
                    pass
            assert 2.5 < time.monotonic() - lost_at < 4.5
            assert ev.data["silent_s"] >= 3.0 and not link.link_ok
            peer.beating.set()
            async with asyncio.timeout(3):
                while (await events.get()).kind != "link_restored":
                    pass
            assert link.link_ok


async def test_param_set_verified_and_unknown_param_reports_no_reply(peer):
    async with connect_vehicle(f"tcp:127.0.0.1:{peer.port}", stream_rate_hz=0) as link:
        assert await link.set_param("RTL_ALT", 3000.0) == 3000.0
        assert await link.get_param("RTL_ALT") == 3000.0
        with pytest.raises(ParamSetFailed) as info:
            await link.set_param("NOPE", 2.0, timeout_s=0.2, retries=2)
        assert (info.value.name, info.value.wanted, info.value.got) == ("NOPE", 2.0, None)
