"""Launch real ArduPilot SITL (``arducopter``) for a pad; the project never downloads or builds it.

The binary comes from ``ARDUPILOT_SITL`` or ``arducopter`` on PATH. Each instance runs in its own
temporary working directory (SITL writes ``eeprom.bin`` and logs to its cwd) with::

    arducopter --model quad --home LAT,LON,ALT,HEADING --speedup S -I N \
        --defaults <sitl/params/island_copter.parm>,<instance.parm>

where ``instance.parm`` sets ``SYSID_THISMAV``. SERIAL0 listens on TCP 5760 + 10 * N.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SITL_ENV = "ARDUPILOT_SITL"
SITL_MISSING_REASON = "ArduPilot SITL binary not found: set ARDUPILOT_SITL=/path/to/arducopter"
BASE_PORT = 5760


class SitlError(Exception):
    """Base error of the SITL launcher."""


class SitlNotFoundError(SitlError):
    """No arducopter binary: ``ARDUPILOT_SITL`` unset and nothing on PATH."""

    def __init__(self) -> None:
        super().__init__(SITL_MISSING_REASON)


class SitlStartError(SitlError):
    """SITL exited or did not open its TCP port in time; ``log_tail`` has its last output."""

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(f"{message}\n--- SITL output (tail) ---\n{log_tail}")
        self.log_tail = log_tail


def find_sitl_binary(env: dict[str, str] | None = None) -> Path | None:
    """Return the arducopter binary from ``ARDUPILOT_SITL`` or PATH, or None when there is none."""
    env = os.environ if env is None else env
    configured = env.get(SITL_ENV)
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which("arducopter")
    return Path(found) if found else None


def port_for_instance(instance: int) -> int:
    """Return SERIAL0's TCP port for a SITL instance number (5760 + 10 * instance)."""
    return BASE_PORT + 10 * instance


def default_params_file() -> Path:
    """Return the path of the packaged ``island_copter.parm`` defaults file."""
    return Path(str(resources.files("sitl") / "params" / "island_copter.parm"))


@dataclass(frozen=True, kw_only=True)
class SitlSpec:
    """One SITL instance: home position (WGS84, altitude AMSL metres), speed-up, instance, sysid."""

    binary: Path
    home_lat_deg: float
    home_lon_deg: float
    home_alt_m: float
    heading_deg: float = 0.0
    speedup: float = 1.0
    instance: int = 0
    sysid: int = 1
    model: str = "quad"
    params_file: Path | None = None
    #: extra (name, value) defaults written to the per-instance file after SYSID_THISMAV
    extra_params: tuple[tuple[str, float], ...] = ()

    @property
    def port(self) -> int:
        return port_for_instance(self.instance)

    @property
    def url(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"


def instance_params_text(spec: SitlSpec) -> str:
    """Return the per-instance defaults file content (distinct SYSID_THISMAV, then extra_params).

    >>> instance_params_text(SitlSpec(binary=Path("/a"), home_lat_deg=0, home_lon_deg=0, home_alt_m=0,
    ...                               sysid=2, extra_params=(("FS_GCS_TIMEOUT", 20.0),)))
    'SYSID_THISMAV 2\\nFS_GCS_TIMEOUT 20\\n'
    """
    lines = [f"SYSID_THISMAV {spec.sysid}"] + [f"{name} {_fmt(value)}" for name, value in spec.extra_params]
    return "\n".join(lines) + "\n"


def build_command(spec: SitlSpec, instance_params: Path) -> list[str]:
    """Return the arducopter argv for a spec (pure; no files are touched).

    >>> spec = SitlSpec(binary=Path("/opt/arducopter"), home_lat_deg=30.7245, home_lon_deg=122.452,
    ...                 home_alt_m=10, heading_deg=90, speedup=5, instance=2, sysid=3,
    ...                 params_file=Path("/p/island.parm"))
    >>> build_command(spec, Path("/tmp/i.parm"))  # doctest: +NORMALIZE_WHITESPACE
    ['/opt/arducopter', '--model', 'quad', '--home', '30.7245,122.452,10,90', '--speedup', '5',
     '-I', '2', '--defaults', '/p/island.parm,/tmp/i.parm']
    """
    params_file = spec.params_file or default_params_file()
    home = ",".join(_fmt(v) for v in (spec.home_lat_deg, spec.home_lon_deg, spec.home_alt_m, spec.heading_deg))
    return [str(spec.binary), "--model", spec.model, "--home", home, "--speedup", _fmt(spec.speedup),
            "-I", str(spec.instance), "--defaults", f"{params_file},{instance_params}"]


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1000 or value == int(value) else repr(float(value))


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    """Return True once a TCP connection to host:port succeeds, False after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class SitlProcess:
    """A running arducopter; start with :meth:`start`, always :meth:`stop` (or use ``with``)."""

    def __init__(self, spec: SitlSpec) -> None:
        self.spec = spec
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def url(self) -> str:
        return self.spec.url

    def start(self, timeout_s: float = 60.0) -> "SitlProcess":
        """Start SITL and wait until SERIAL0's TCP port accepts connections.

        Raises
        ------
        SitlStartError: SITL exited or its port did not open within timeout_s.
        """
        self._workdir = tempfile.TemporaryDirectory(prefix=f"sitl-{self.spec.instance}-")
        workdir = Path(self._workdir.name)
        instance_params = workdir / "instance.parm"
        instance_params.write_text(instance_params_text(self.spec))
        self._log_path = workdir / "sitl.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(build_command(self.spec, instance_params), cwd=workdir,
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise SitlStartError(f"arducopter exited with code {self._process.returncode}", tail)
            if wait_for_port(self.spec.port, 0.5):
                return self
        tail = self.log_tail()
        self.stop()
        raise SitlStartError(f"SITL port {self.spec.port} did not open within {timeout_s} s", tail)

    def log_tail(self, max_chars: int = 4000) -> str:
        """Return the end of SITL's combined stdout/stderr."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")[-max_chars:]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate SITL (SIGTERM, then SIGKILL after timeout_s) and remove its working directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout_s)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> "SitlProcess":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
