"""Shared helpers for the reliability tests (controller restarts, instance death, kill -9)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controller.db.models import SortieTransition

# Re-export the flight fixtures (shengsi database, settings, tokens) for this package.
from tests.operations.conftest import dispatcher_token, flight_settings, scenario  # noqa: F401


def transitions(factory: sessionmaker[Session], sortie_id: str) -> list[tuple[str, str]]:
    """The sortie's persisted transitions as (to_state, actor), oldest first."""
    with factory() as session:
        rows = session.execute(select(SortieTransition.to_state, SortieTransition.actor)
                               .where(SortieTransition.sortie_id == sortie_id).order_by(SortieTransition.id))
        return [(r.to_state, r.actor) for r in rows]


def count_texts(texts: tuple[str, ...], needle: str) -> int:
    """How many vehicle STATUSTEXTs start with ``needle``."""
    return sum(1 for t in texts if t.startswith(needle))


# --- controller processes -------------------------------------------------------------------------

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_SECRET

DISPATCH = Path(sys.executable).with_name("dispatch")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ControllerProcess:
    """``dispatch serve`` with the executor on, as a real process (killed with SIGKILL by the tests)."""

    def __init__(self, *, database_url: str, instance_id: str, data_dir: Path, speedup: float,
                 tick_s: float = 0.2, lease_s: float | None = None) -> None:
        self.instance_id = instance_id
        self.port = free_port()
        self.log_path = data_dir / f"controller-{instance_id}.log"
        self.env = {**os.environ, "DISPATCH_DATABASE_URL": database_url, "DISPATCH_RUN_VEHICLES": "true",
                    "DISPATCH_EXECUTOR_TICK_S": str(tick_s), "DISPATCH_GCS_HEARTBEAT_PERIOD_S": str(1.0 / speedup),
                    "DISPATCH_INSTANCE_ID": instance_id, "DISPATCH_SECRET_KEY": TEST_SECRET,
                    "DISPATCH_ENVIRONMENT": "test", "DISPATCH_DATA_DIR": str(data_dir)}
        if lease_s is not None:
            self.env["DISPATCH_EXECUTOR_LEASE_S"] = str(lease_s)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ControllerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(DISPATCH), "serve", "--port", str(self.port)], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        return self

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, leases stay in the database until they expire."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def island_copter_params() -> dict[str, float]:
    """The packaged vehicle defaults (``island_copter.parm``: gripper, 22 Ah battery, failsafes) that the
    simulator knows, so simulated vehicles are configured like the real SITL ones."""
    from sitl.launcher import default_params_file
    from sitl.params import ParamStore

    known = ParamStore()
    params = {}
    for line in default_params_file().read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and parts[0] in known:
            params[parts[0]] = float(parts[1])
    return params


class SimProcess:
    """``python -m sitl.simvehicle`` as a separate process (the vehicle outlives any controller)."""

    def __init__(self, *, instance: int, sysid: int, home: tuple[float, float, float], speedup: float,
                 params: dict[str, float], log_dir: Path) -> None:
        args = [sys.executable, "-m", "sitl.simvehicle", "--instance", str(instance), "--sysid", str(sysid),
                "--home", f"{home[0]},{home[1]},{home[2]},0", "--speedup", str(speedup), "--gps-warmup-s", "4"]
        for name, value in params.items():
            args += ["--param", f"{name}={value}"]
        self.log_path = log_dir / f"sim-{sysid}.log"
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(self.log_path, "wb"))  # noqa: SIM115
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # blocks until the simulator listens (or dies)
        if not line.startswith("SIMVEHICLE READY "):
            raise RuntimeError(f"simulator {sysid} did not start: {line!r}; see {self.log_path}")
        self.url = line.split()[2]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
