"""Unlock latency over a pseudo-terminal at 9600 baud, next to the serial wire-time limit.

Measures, per call, the time from calling ``LockerBus.unlock`` until the unlock frame is written
and drained (tcdrain) and the board's reply is parsed, against the simulator with a zero-length
unlock pulse so the board itself adds nothing. Printed beside:

* the wire-time limit: 10 bytes (5 out, 5 back) x 10 bits / 9600 baud = 10.42 ms — what a real
  RS-485 line at 9600 baud can never beat;
* a raw baseline in the same run: write 5 bytes and read 5 bytes back through the transport, no
  decoding, no inter-frame gap.

A pseudo-terminal does not pace bytes at the baud rate, so ratios below 1 are possible here: they
show the software overhead, which on real hardware adds to the wire time.

Run: ``.venv/bin/python benchmarks/locker_unlock_bench.py [--n 300]``. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

from locker_driver import LockerBus
from locker_driver.frames import UnlockRequest
from locker_driver.protocol import GenericBoardCodec, encode_unlock
from locker_driver.sim import BoardSimulator
from locker_driver.transport import SerialTransport, wire_time_s

BAUDRATE = 9600


def percentile(samples: list[float], q: float) -> float:
    """Return the ``q`` quantile (0-1) of ``samples`` by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_calls(call, n: int) -> list[float]:
    """Return ``n`` durations of ``call()`` in s, after 20 warm-up calls."""
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="timed calls per case")
    args = parser.parse_args()

    wire_bytes = GenericBoardCodec().wire_bytes(UnlockRequest(board=1, lock=1))
    limit_s = wire_time_s(wire_bytes, BAUDRATE)
    with BoardSimulator(boards=[1], pulse_s=0.0) as sim:
        raw = SerialTransport.open(sim.port_path, baudrate=BAUDRATE, inter_frame_gap_s=0.0)
        frame = encode_unlock(1, 1)

        def raw_exchange() -> None:
            raw.write(frame)
            got = b""
            while len(got) < 5:
                got += raw.read(5 - len(got), 1.0)

        cases = {"raw write+read (baseline)": time_calls(raw_exchange, args.n)}
        raw.close()
        for label, gap_s in (("bus.unlock, 3.5-char gap", None), ("bus.unlock, no gap", 0.0)):
            transport = SerialTransport.open(sim.port_path, baudrate=BAUDRATE, inter_frame_gap_s=gap_s)
            with LockerBus(transport, timeout_s=1.0, attempts=1) as bus:
                cases[label] = time_calls(lambda: bus.unlock(1, 1), args.n)

    print(f"wire-time limit: {wire_bytes} bytes x 10 bits / {BAUDRATE} baud = {limit_s * 1000:.2f} ms")
    print(f"{'case':<28} {'p50 ms':>8} {'p99 ms':>8} {'p50/limit':>10} {'p99/limit':>10}")
    for label, samples in cases.items():
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        print(f"{label:<28} {p50 * 1000:8.3f} {p99 * 1000:8.3f} {p50 / limit_s:10.3f} {p99 / limit_s:10.3f}")
    base = statistics.median(cases["raw write+read (baseline)"])
    for label, samples in cases.items():
        print(f"{label}: median {statistics.median(samples) / base:.2f}x the raw baseline")


if __name__ == "__main__":
    main()
