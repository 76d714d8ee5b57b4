"""The MAVLink fault proxy: byte-level framing, seeded fault decisions, and real sockets."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from sitl.faultproxy import FaultPlan, FaultProxy, FrameFaults, MavlinkFramer, frame_length, is_frame


def heartbeat_frame(seq: int, *, sysid: int = 1) -> bytes:
    """A packed MAVLink 2 HEARTBEAT whose custom_mode carries ``seq`` (to follow order)."""
    mav = mavlink2.MAVLink(None, srcSystem=sysid, srcComponent=1)
    mav.seq = seq % 256
    return mav.heartbeat_encode(2, 3, 0, seq, 3, 3).pack(mav)


def v1_frame() -> bytes:
    from pymavlink.dialects.v10 import ardupilotmega as mavlink1

    mav = mavlink1.MAVLink(None, srcSystem=1, srcComponent=1)
    return mav.heartbeat_encode(2, 3, 0, 0, 3, 3).pack(mav)


def signed(frame: bytes) -> bytes:
    return bytes([frame[0], frame[1], frame[2] | 0x01]) + frame[3:] + bytes(13)


def test_frame_lengths_v1_v2_signed() -> None:
    hb = heartbeat_frame(1)
    assert frame_length(hb) == len(hb) == 12 + 9
    v1 = v1_frame()
    assert frame_length(v1) == len(v1) == 8 + 9
    assert frame_length(signed(hb)) == len(hb) + 13


def test_framer_split_frames_garbage_and_two_in_one_read() -> None:
    a, b = heartbeat_frame(1), heartbeat_frame(2)
    framer = MavlinkFramer()
    out: list[bytes] = []
    stream = b"\x00junk" + a + b + v1_frame() + signed(a) + b"tail"
    for i in range(0, len(stream), 3):  # 3-byte reads split every header and payload
        out += framer.feed(stream[i:i + 3])
    frames = [c for c in out if is_frame(c)]
    assert frames == [a, b, v1_frame(), signed(a)]
    assert b"".join(out) == stream  # garbage is passed on, in order
    assert framer.feed(a + b) == [a, b]


def test_frames_through_the_framer_parse_with_pymavlink() -> None:
    framer = MavlinkFramer()
    parser = mavlink2.MAVLink(None)
    frames = framer.feed(b"".join(heartbeat_frame(i) for i in range(5)))
    assert [parser.parse_char(f).custom_mode for f in frames] == list(range(5))


def test_fault_plan_is_seeded_and_drops_at_the_rate() -> None:
    frames = [heartbeat_frame(i) for i in range(2000)]

    def run(seed: int) -> list[bytes]:
        plan = FaultPlan(FrameFaults(drop=0.3), random.Random(seed))
        return [f for frame in frames for _due, f in plan.decide(frame, 0.0)]

    kept = run(1)
    assert kept == run(1) and kept != run(2)
    assert 0.25 < 1 - len(kept) / len(frames) < 0.35


def test_fault_plan_reorders_duplicates_and_delays() -> None:
    frames = [heartbeat_frame(i) for i in range(6)]
    swap = FaultPlan(FrameFaults(reorder=1.0), random.Random(0))
    order = [f for frame in frames for _due, f in swap.decide(frame, 0.0)]
    assert order == [frames[1], frames[0], frames[3], frames[2], frames[5], frames[4]]
    dup = FaultPlan(FrameFaults(duplicate=1.0, delay_s=0.5), random.Random(0))
    assert dup.decide(frames[0], 10.0) == [(10.5, frames[0]), (10.5, frames[0])]
    assert FaultPlan(FrameFaults(), random.Random(0)).decide(frames[0], 0.0, cut=True) == []
    with pytest.raises(ValueError):
        FrameFaults(drop=1.5)


class Sink:
    """An upstream TCP server that records what it receives and can send frames back."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.conn: socket.socket | None = None
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.conn, _ = self.server.accept()
        self.connected.set()
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.received += data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def custom_modes(data: bytes) -> list[int]:
    parser = mavlink2.MAVLink(None)
    return [m.custom_mode for m in parser.parse_buffer(bytes(data)) or []]


def test_proxy_drops_whole_frames_and_cut_stops_everything() -> None:
    sink = Sink()
    try:
        with FaultProxy(f"tcp:127.0.0.1:{sink.port}", to_vehicle=FrameFaults(drop=0.3), seed=4) as proxy:
            client = socket.create_connection(("127.0.0.1", proxy.port))
            sink.connected.wait(5)
            client.sendall(b"".join(heartbeat_frame(i) for i in range(300)))
            stats = proxy.stats["to_vehicle"]
            wait_until(lambda: stats.frames == 300)
            wait_until(lambda: len(custom_modes(sink.received)) == 300 - stats.dropped)
            got = custom_modes(sink.received)
            assert got == sorted(got) and 60 < stats.dropped < 120  # whole frames, in order, all valid
            # The other direction has no faults: every frame arrives.
            sink.conn.sendall(b"".join(heartbeat_frame(i) for i in range(50)))
            back = bytearray()
            client.settimeout(5)
            while len(custom_modes(back)) < 50:
                back += client.recv(65536)
            assert custom_modes(back) == list(range(50))
            proxy.cut()
            before = len(sink.received)
            client.sendall(heartbeat_frame(1000))
            wait_until(lambda: proxy.stats["to_vehicle"].cut == 1)
            proxy.restore()
            client.sendall(heartbeat_frame(1001))
            wait_until(lambda: len(sink.received) > before)
            assert custom_modes(sink.received[before:]) == [1001]
            client.close()
    finally:
        sink.close()


def test_proxy_delay_holds_frames_back() -> None:
    sink = Sink()
    try:
        with FaultProxy(f"tcp:127.0.0.1:{sink.port}", to_vehicle=FrameFaults(delay_s=0.3)) as proxy:
            client = socket.create_connection(("127.0.0.1", proxy.port))
            sink.connected.wait(5)
            sent_at = time.monotonic()
            client.sendall(heartbeat_frame(7))
            wait_until(lambda: custom_modes(sink.received) == [7])
            assert time.monotonic() - sent_at >= 0.3
            client.close()
    finally:
        sink.close()


def test_proxy_refuses_client_when_vehicle_is_absent() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with FaultProxy(f"tcp:127.0.0.1:{port}", connect_timeout_s=0.5) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port))
        client.settimeout(5)
        assert client.recv(10) == b""  # closed: nothing behind the proxy
        client.close()
