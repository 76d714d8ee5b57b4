"""API load on loopback: parcel scan and parcel lookup against ``/healthz`` measured in the same run.

Starts the controller under uvicorn (one process, uvloop + httptools, access log off) on a fresh
migrated database holding the Shengsi scenario, then drives it with a bounded closed-loop load
generator: ``--connections`` keep-alive HTTP/1.1 connections, each sending its next request as soon
as the previous answer arrived, for ``--duration`` seconds per endpoint. The generator is raw asyncio
sockets (no HTTP library) so that it takes as little as possible of the two cores it shares with the
server.

Endpoints (each request authenticates a courier's bearer token, as in production):

* ``GET /healthz`` — the baseline: the framework and the network stack, no database;
* ``GET /api/v1/parcels/{id}`` — one token lookup and one parcel read;
* ``POST /api/v1/parcels/{id}/scan`` — a real write per request (parcel state, tracking event, audit
  entry, one transaction); each connection moves its own parcel between ``in_transit_ferry`` and
  ``at_service_point``, so every scan is a legal transition;
* the pickup-code verification, once that route exists (``--pickup-path``; not yet in the API).

Prints req/s, p50/p99 latency, their ratio to the baseline, and whether the goal (>= 500 req/s with
p99 < 50 ms) is met. Run: ``.venv/bin/python -m benchmarks.api_load_bench [--duration 5]
[--connections 16] [--database-url postgresql+psycopg://…]``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

GOAL_RPS = 500.0
GOAL_P99_MS = 50.0
SECRET = "benchmark-secret-key-that-is-long-enough-0123456789"


def app_from_env():  # type: ignore[no-untyped-def]
    """uvicorn ``--factory`` entry point: the controller app with settings from ``DISPATCH_*``."""
    from controller.api.app import create_app
    from controller.settings import load_settings

    return create_app(load_settings())


@dataclass(frozen=True, kw_only=True)
class Result:
    name: str
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s


def percentile(samples: list[float], q: float) -> float:
    """Return the ``q`` quantile (0-1) of ``samples`` by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _request(method: str, path: str, token: str | None, body: dict | None = None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _connection(port: int, requests: list[bytes], stop_at: float, latencies: list[float],
                      errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = 0
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors.append(status)
            i += 1
    finally:
        writer.close()


async def _load(port: int, per_connection: list[list[bytes]], duration_s: float) -> tuple[list[float], list[int], float]:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + duration_s
    await asyncio.gather(*(_connection(port, reqs, stop_at, latencies, errors) for reqs in per_connection))
    return latencies, errors, time.perf_counter() - started


def run_load(name: str, port: int, per_connection: list[list[bytes]], duration_s: float) -> Result:
    """Drive the server with one keep-alive connection per list of (cycled) raw requests."""
    asyncio.run(_load(port, per_connection, min(1.0, duration_s / 5)))  # warm-up, not counted
    latencies, errors, elapsed = asyncio.run(_load(port, per_connection, duration_s))
    return Result(name=name, requests=len(latencies), errors=len(errors), duration_s=elapsed,
                  p50_ms=1000 * percentile(latencies, 0.5), p99_ms=1000 * percentile(latencies, 0.99))


def prepare_database(url: str, n_parcels: int) -> str:
    """Migrate, install Shengsi, create a courier and ``n_parcels`` parcels; return the courier's token."""
    from controller.db import migrate
    from controller.db.engine import make_engine, make_session_factory, transaction
    from controller.domain.parcel_input import ParcelInput
    from controller.scenario import load_scenario
    from controller.services import auth, network, parcels

    engine = make_engine(url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        network.install_scenario(session, scenario=load_scenario("shengsi"), actor="bench")
        _, token = auth.create_user(session, name="bench-courier", role=auth.Role.COURIER, secret_key=SECRET,
                                    actor="bench")
        for i in range(n_parcels):
            parcels.create_parcel(session, data=ParcelInput(id=f"BENCH-{i:03d}", origin="caiyuan-dc",
                                                            destination="daao-village", weight_kg=1.0, length_cm=20,
                                                            width_cm=20, height_cm=10), actor="bench")
    engine.dispose()
    return token


def start_server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DISPATCH_DATABASE_URL": url, "DISPATCH_SECRET_KEY": SECRET,
           "DISPATCH_ENVIRONMENT": "test", "DISPATCH_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.api_load_bench:app_from_env", "--host",
         "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning", "--loop", "uvloop",
         "--http", "httptools"], env=env, cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return server, port
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the controller did not start") from None
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--pickup-path", default=None,
                        help="POST path of the pickup-code verification, once it exists")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'dispatch.sqlite'}"
        token = prepare_database(url, args.connections)
        server, port = start_server(url, Path(tmp))
        try:
            ids = [f"BENCH-{i:03d}" for i in range(args.connections)]
            health = [[_request("GET", "/healthz", None)] for _ in ids]
            lookup = [[_request("GET", f"/api/v1/parcels/{pid}", token)] for pid in ids]
            scan = [[_request("POST", f"/api/v1/parcels/{pid}/scan", token, {"to_state": state, "reason": "bench"})
                     for state in ("in_transit_ferry", "at_service_point")] for pid in ids]
            results = [run_load("GET /healthz (baseline)", port, health, args.duration),
                       run_load("GET /api/v1/parcels/{id}", port, lookup, args.duration),
                       run_load("POST /api/v1/parcels/{id}/scan", port, scan, args.duration)]
            if args.pickup_path:
                pickup = [[_request("POST", args.pickup_path, token, {})] for _ in ids]
                results.append(run_load(f"POST {args.pickup_path}", port, pickup, args.duration))
        finally:
            server.terminate()
            server.wait(timeout=10)
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"uvicorn x1 on loopback, {backend}, {args.connections} keep-alive connections, {args.duration:g} s "
          f"per endpoint, {os.cpu_count()} CPUs shared by server and load generator")
    base = results[0]
    print(f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'rps/base':>9} {'p99/base':>9}  goal")
    for r in results:
        goal = "ok" if r.rps >= GOAL_RPS and r.p99_ms < GOAL_P99_MS and r.errors == 0 else "MISSED"
        print(f"{r.name:34} {r.rps:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} {r.rps / base.rps:9.2f} "
              f"{r.p99_ms / base.p99_ms:9.2f}  {goal if r is not base else ''}")
    print(f"goal: >= {GOAL_RPS:.0f} req/s with p99 < {GOAL_P99_MS:.0f} ms (errors must be 0)")
    if not args.pickup_path:
        print("pickup-code verification: no route in the API yet; pass --pickup-path once it exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
