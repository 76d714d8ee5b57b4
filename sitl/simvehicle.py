"""A simulated ArduCopter that speaks MAVLink 2 over TCP like ArduPilot SITL (the CI stand-in).

Run it like SITL::

    python -m sitl.simvehicle --instance 0 --home 30.7245,122.4520,10,0 --speedup 10
    # listens on tcp 127.0.0.1:5760 (+10 per instance); prints "SIMVEHICLE READY tcp:127.0.0.1:5760"

or in-process for fast tests::

    >>> cfg = SimVehicleConfig(home_lat_deg=30.7245, home_lon_deg=122.452, home_alt_m=10.0)
    >>> with SimVehicle(cfg) as vehicle:           # doctest: +SKIP
    ...     url = vehicle.url                      # "tcp:127.0.0.1:<free port>"

The vehicle runs in its own daemon thread with a selector loop. Simulated time runs at
``speedup`` x wall time (physics, battery, failsafe timers, warm-up, mission-protocol timeouts);
telemetry rates are in wall time. MAVLink 2 framing comes from pymavlink's v2.0 ``ardupilotmega``
dialect imported directly (no dependency on the ``MAVLINK20`` environment variable). Behaviour,
rates and known differences from ArduPilot are listed in ``sitl/README.md``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from flight_plans.mission_item import MissionItem, MissionType
from sitl import mission_storage as ms
from sitl.copter import AIRFRAMES, Copter, Mode
from sitl.link import LinkFaults, TcpLink
from sitl.mission_protocol import (
    FenceItems, MissionItems, MissionTransfer, Output, Peer, RallyItems, SendAck, SendCount, SendItem,
    SendRequest, SendText,
)
from sitl.params import ParamStore

BASE_PORT = 5760
COMPONENT_ID = 1  # MAV_COMP_ID_AUTOPILOT1
FIRMWARE_VERSION = (4, 5, 7)
_MAX_SUBSTEP_S = 0.05
_RESULT = mavlink2  # MAV_RESULT_* constants live in the dialect module

# Streams: message name -> default wall-clock rate (Hz). ArduPilot's SRx_ defaults differ per
# serial port; SITL's SERIAL0 streams nothing until a GCS asks, MAVProxy asks at once.
DEFAULT_STREAM_HZ: dict[str, float] = {
    "GLOBAL_POSITION_INT": 4.0, "SYS_STATUS": 1.0, "BATTERY_STATUS": 1.0, "GPS_RAW_INT": 2.0,
    "EXTENDED_SYS_STATE": 1.0, "VFR_HUD": 2.0, "MISSION_CURRENT": 1.0, "EKF_STATUS_REPORT": 1.0,
    "ATTITUDE": 2.0, "HOME_POSITION": 0.2,
}
# REQUEST_DATA_STREAM groups (MAV_DATA_STREAM) as ArduPilot assigns these messages.
STREAM_GROUPS: dict[int, tuple[str, ...]] = {
    2: ("SYS_STATUS", "GPS_RAW_INT", "MISSION_CURRENT", "EXTENDED_SYS_STATE"),  # EXTENDED_STATUS
    6: ("GLOBAL_POSITION_INT",),  # POSITION
    10: ("ATTITUDE",),  # EXTRA1
    11: ("VFR_HUD",),  # EXTRA2
    12: ("BATTERY_STATUS", "EKF_STATUS_REPORT"),  # EXTRA3
}
_MAX_STREAM_HZ = 50.0


@dataclass(frozen=True, kw_only=True)
class SimVehicleConfig:
    """Everything that defines one simulated vehicle. Units in names; times are simulated seconds
    unless they say ``wall``.

    Parameters
    ----------
    sysid: MAVLink system id (also SYSID_THISMAV).
    home_lat_deg, home_lon_deg, home_alt_m: start position (WGS84, altitude AMSL in metres).
    heading_deg: initial yaw.
    speedup: simulated seconds per wall second.
    port: TCP port on ``host``; 0 picks a free port.
    packet_loss, duplicate, reorder: per-packet probabilities (0..1) for link fault injection.
    latency_s: one-way wall-clock delay added to every packet the vehicle sends.
    seed: random seed for the fault injection.
    gps_warmup_s: simulated seconds until GPS 3D fix (at 60 %) and EKF position (at 100 %).
    request_legacy: request upload items with legacy MISSION_REQUEST (default, as ArduPilot's
        ``MissionItemProtocol::queued_request_send`` does); False requests MISSION_REQUEST_INT.
    model: airframe name (power/battery model), see :data:`sitl.copter.AIRFRAMES`.
    params: parameter overrides applied at boot (like a SITL ``--defaults`` file).
    """

    sysid: int = 1
    home_lat_deg: float
    home_lon_deg: float
    home_alt_m: float
    heading_deg: float = 0.0
    speedup: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    packet_loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    latency_s: float = 0.0
    seed: int = 0
    gps_warmup_s: float = 15.0
    request_legacy: bool = True
    model: str = "island-hauler-5"
    params: dict[str, float] = field(default_factory=dict)
    max_mission_items: int = 700
    max_fence_items: int = 100
    max_rally_items: int = 20


@dataclass(frozen=True, kw_only=True)
class VehicleSnapshot:
    """A consistent copy of the simulated vehicle's state (for test assertions)."""

    time_s: float
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    alt_amsl_m: float
    groundspeed_m_s: float
    armed: bool
    mode: str
    mode_number: int
    landed: bool
    landed_state: int
    battery_remaining_pct: float
    battery_voltage_v: float
    battery_consumed_mah: float
    mission_items: tuple[MissionItem, ...]
    fence_items: tuple[MissionItem, ...]
    rally_items: tuple[MissionItem, ...]
    params: dict[str, float]
    mission_current_seq: int
    mission_state: int
    payload_released: bool
    gcs_failsafe_triggered: bool
    fence_breached: bool
    home: tuple[float, float, float] | None
    gps_fix_type: int
    ekf_ready: bool
    statustexts: tuple[str, ...]
    link_stats: dict[str, int]
    connections: int


class _Sink:
    """File-like target for pymavlink's encoder: collects the bytes of one packed message."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data


class SimVehicle:
    """A simulated ArduCopter served over TCP from a daemon thread (see module docstring)."""

    def __init__(self, config: SimVehicleConfig) -> None:
        if config.model not in AIRFRAMES:
            raise ValueError(f"unknown model {config.model!r}; known: {sorted(AIRFRAMES)}")
        self.config = config
        self._lock = threading.RLock()
        airframe = AIRFRAMES[config.model]
        params = ParamStore({"SYSID_THISMAV": config.sysid, "BATT_CAPACITY": round(airframe.capacity_mah),
                             **config.params})
        self._copter = Copter(
            params=params, home_lat_deg=config.home_lat_deg, home_lon_deg=config.home_lon_deg,
            home_alt_m=config.home_alt_m, heading_deg=config.heading_deg,
            gps_warmup_s=config.gps_warmup_s, airframe=airframe,
        )
        self._mission = MissionItems(max_items=config.max_mission_items, home=self._home_item,
                                     can_clear=self._copter.can_clear_mission, on_change=self._mission_changed)
        self._fence = FenceItems(max_items=config.max_fence_items, on_change=self._fence_changed)
        self._rally = RallyItems(max_items=config.max_rally_items, on_change=self._rally_changed)
        self._transfers = {
            MissionType.MISSION: MissionTransfer(self._mission),
            MissionType.FENCE: MissionTransfer(self._fence),
            MissionType.RALLY: MissionTransfer(self._rally),
        }
        self._copter.mission_changed(self._mission.items)
        self._sink = _Sink()
        self._encoder = mavlink2.MAVLink(self._sink, srcSystem=config.sysid, srcComponent=COMPONENT_ID)
        self._parsers: dict[int, mavlink2.MAVLink] = {}
        self._link: TcpLink | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stream_hz = dict(DEFAULT_STREAM_HZ)
        self._next_due: dict[str, float] = {}
        self._next_heartbeat_s = 0.0
        self._silence_until_s: float | None = None
        self._texts: list[str] = []
        self._last_mission_seq_sent = -1
        self._sent_home_version = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SimVehicle":
        """Open the TCP port and start the simulation thread; return self."""
        if self._thread is not None:
            raise RuntimeError("SimVehicle already started")
        faults = LinkFaults(packet_loss=self.config.packet_loss, duplicate=self.config.duplicate,
                            reorder=self.config.reorder, latency_s=self.config.latency_s)
        self._link = TcpLink(host=self.config.host, port=self.config.port, faults=faults, seed=self.config.seed)
        self._thread = threading.Thread(target=self._run, name=f"simvehicle-{self.config.sysid}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close all sockets (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> "SimVehicle":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port actually listened on."""
        if self._link is None:
            raise RuntimeError("SimVehicle not started")
        return self._link.port

    @property
    def url(self) -> str:
        """MAVLink connection URL for a GCS, e.g. ``tcp:127.0.0.1:5760``."""
        return f"tcp:{self.config.host}:{self.port}"

    # ------------------------------------------------------------------ test controls
    def snapshot(self) -> VehicleSnapshot:
        """Return a consistent copy of the vehicle state (thread-safe)."""
        with self._lock:
            c = self._copter
            return VehicleSnapshot(
                time_s=c.time_s, lat_deg=c.lat_deg, lon_deg=c.lon_deg, alt_rel_m=c.alt_rel_m,
                alt_amsl_m=c.start_alt_m + c.alt_rel_m, groundspeed_m_s=c.groundspeed_m_s,
                armed=c.armed, mode=c.mode.name, mode_number=int(c.mode), landed=c.landed,
                landed_state=c.landed_state, battery_remaining_pct=100.0 * c.battery_remaining_fraction,
                battery_voltage_v=c.battery_voltage_v, battery_consumed_mah=c.battery_consumed_mah,
                mission_items=tuple(self._mission.get(i) for i in range(self._mission.count())),  # type: ignore[misc]
                fence_items=tuple(self._fence.items), rally_items=tuple(self._rally.items),
                params=c.params.as_dict(), mission_current_seq=c.mission_current_seq,
                mission_state=c.mission_state_code, payload_released=c.payload_released,
                gcs_failsafe_triggered=c.gcs_failsafe_triggered, fence_breached=c.fence_breached,
                home=c.home, gps_fix_type=c.gps_fix_type, ekf_ready=c.ekf_ready,
                statustexts=tuple(self._texts[-2000:]),
                link_stats=dict(self._link.stats) if self._link else {},
                connections=len(self._link.connection_ids) if self._link else 0,
            )

    def set_link_faults(self, *, packet_loss: float | None = None, duplicate: float | None = None,
                        reorder: float | None = None, latency_s: float | None = None) -> None:
        """Change link fault injection; arguments left as None keep their value."""
        with self._lock:
            assert self._link is not None
            old = self._link.faults
            self._link.faults = LinkFaults(
                packet_loss=old.packet_loss if packet_loss is None else packet_loss,
                duplicate=old.duplicate if duplicate is None else duplicate,
                reorder=old.reorder if reorder is None else reorder,
                latency_s=old.latency_s if latency_s is None else latency_s,
            )

    def silence(self) -> None:
        """Cut the radio link: send nothing and ignore everything received, until :meth:`resume`."""
        with self._lock:
            assert self._link is not None
            self._link.silenced = True
            self._link.clear_queues()
            self._silence_until_s = None

    def resume(self) -> None:
        """Restore the link after :meth:`silence` or :meth:`cut_link`."""
        with self._lock:
            assert self._link is not None
            self._link.silenced = False
            self._silence_until_s = None

    def cut_link(self, wall_s: float) -> None:
        """Silence the link for wall_s seconds of wall-clock time, then resume by itself."""
        self.silence()
        with self._lock:
            self._silence_until_s = time.monotonic() + wall_s

    def replace_battery(self) -> bool:
        """Swap in a full battery, as the ground crew does between sorties; refused while armed."""
        with self._lock:
            return self._copter.replace_battery()

    def set_wind(self, *, speed_m_s: float, from_deg: float) -> None:
        """Set a steady wind (changes power draw; the kinematic track is unaffected)."""
        with self._lock:
            self._copter.set_wind(speed_m_s=speed_m_s, from_deg=from_deg)

    def set_param(self, name: str, value: float) -> None:
        """Set a parameter directly (as if from a defaults file); raises KeyError if unknown."""
        with self._lock:
            if not self._copter.params.set(name, value):
                raise KeyError(name)

    # ------------------------------------------------------------------ store callbacks
    def _home_item(self) -> MissionItem:
        home = self._copter.home
        if home is None:
            return MissionItem(seq=0, command=ms.NAV_WAYPOINT, frame=0)
        return ms.home_item(lat_deg=home[0], lon_deg=home[1], alt_amsl_m=home[2])

    def _mission_changed(self) -> None:
        self._copter.mission_changed(self._mission.items)

    def _fence_changed(self) -> None:
        self._copter.fence_items = list(self._fence.items)

    def _rally_changed(self) -> None:
        self._copter.rally_items = list(self._rally.items)
        self._copter.params.set("RALLY_TOTAL", len(self._rally.items))

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        assert self._link is not None
        link = self._link
        last_wall = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                with self._lock:
                    dt_wall = min(now - last_wall, 0.25)  # don't leap after a long GC pause
                    last_wall = now
                    self._advance(dt_wall * self.config.speedup)
                    if self._silence_until_s is not None and now >= self._silence_until_s:
                        link.silenced = False
                        self._silence_until_s = None
                    self._send_telemetry(now)
                received = link.poll(0.005, time.monotonic())
                if received:
                    with self._lock:
                        for conn_id, data in received:
                            self._receive(conn_id, data)
        except BaseException as error:  # keep the reason for stop(); a dead sim must not hang tests
            self._error = error
            raise
        finally:
            link.close()

    def _advance(self, sim_dt_s: float) -> None:
        steps = max(1, math.ceil(sim_dt_s / _MAX_SUBSTEP_S))
        for _ in range(steps):
            self._copter.step(sim_dt_s / steps)
        for transfer in self._transfers.values():
            self._emit_protocol(transfer.update(self._copter.time_s))
        self._drain_outbox()

    def _drain_outbox(self) -> None:
        outbox, self._copter.outbox = self._copter.outbox, []
        for note in outbox:
            if note.text is not None:
                self._statustext(note.text, note.severity)
            if note.reached_seq is not None:
                self._send(self._encoder.mission_item_reached_encode(note.reached_seq))
                self._send_mission_current()

    # ------------------------------------------------------------------ sending
    def _send(self, msg: Any, conn_id: int | None = None) -> None:
        assert self._link is not None
        self._sink.data.clear()
        self._encoder.send(msg)
        self._link.send(bytes(self._sink.data), time.monotonic(), conn_id)

    def _statustext(self, text: str, severity: int = 6) -> None:
        self._texts.append(text)
        self._send(self._encoder.statustext_encode(severity, text.encode()[:50]))

    def _send_telemetry(self, now: float) -> None:
        c = self._copter
        if now >= self._next_heartbeat_s:
            self._next_heartbeat_s = now + 1.0
            self._send(self._heartbeat())
        if c.home is not None and self._sent_home_version != c.home_version:
            self._sent_home_version = c.home_version
            self._send(self._message("HOME_POSITION"))
        if c.mission_current_seq != self._last_mission_seq_sent:
            self._send_mission_current()
        for name, hz in self._stream_hz.items():
            if hz <= 0:
                continue
            due = self._next_due.get(name, 0.0)
            if now >= due:
                self._next_due[name] = now + 1.0 / hz
                msg = self._message(name)
                if msg is not None:
                    self._send(msg)

    def _send_mission_current(self) -> None:
        self._last_mission_seq_sent = self._copter.mission_current_seq
        self._send(self._message("MISSION_CURRENT"))

    def _heartbeat(self) -> Any:
        c = self._copter
        base = mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink2.MAV_MODE_FLAG_STABILIZE_ENABLED
        base |= mavlink2.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED
        if c.mode in (Mode.AUTO, Mode.GUIDED, Mode.LOITER, Mode.RTL, Mode.CIRCLE, Mode.POSHOLD,
                      Mode.BRAKE, Mode.SMART_RTL):
            base |= mavlink2.MAV_MODE_FLAG_GUIDED_ENABLED
        if c.armed:
            base |= mavlink2.MAV_MODE_FLAG_SAFETY_ARMED
        if c.armed:
            state = mavlink2.MAV_STATE_CRITICAL if (c.gcs_failsafe or c.battery_failsafe_level) else mavlink2.MAV_STATE_ACTIVE
        else:
            state = mavlink2.MAV_STATE_STANDBY
        return self._encoder.heartbeat_encode(mavlink2.MAV_TYPE_QUADROTOR, mavlink2.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                              base, int(c.mode), state)

    def _message(self, name: str) -> Any | None:
        """Build one telemetry message from the current state (None if it cannot be sent now)."""
        c = self._copter
        e = self._encoder
        boot_ms = int(c.time_s * 1000) & 0xFFFFFFFF
        lat, lon = int(round(c.lat_deg * 1e7)), int(round(c.lon_deg * 1e7))
        alt_amsl_mm = int(round((c.start_alt_m + c.alt_rel_m) * 1000))
        heading_deg = (math.degrees(math.atan2(c.ve_m_s, c.vn_m_s)) if c.groundspeed_m_s > 0.2
                       else c.heading_deg) % 360.0
        if c.groundspeed_m_s > 0.2:
            c.heading_deg = heading_deg
        if name == "GLOBAL_POSITION_INT":
            return e.global_position_int_encode(
                boot_ms, lat, lon, alt_amsl_mm, int(round(c.alt_rel_m * 1000)), int(c.vn_m_s * 100),
                int(c.ve_m_s * 100), int(-c.climb_m_s * 100), int(heading_deg * 100))
        if name == "SYS_STATUS":
            sensors = 0x20 | 0x200000 | 0x10000000 | 0x1 | 0x2 | 0x4 | 0x8  # gyro/acc/mag/baro/gps/ahrs/prearm
            health = sensors if c.prearm_failure() is None else sensors & ~(0x10000000 | 0x20)
            return e.sys_status_encode(sensors, sensors, health, 200, int(c.battery_voltage_v * 1000),
                                       int(c.battery_current_a * 100), int(100 * c.battery_remaining_fraction),
                                       0, 0, 0, 0, 0, 0)
        if name == "BATTERY_STATUS":
            voltages = [min(65534, int(c.battery_voltage_v * 1000))] + [65535] * 9
            charge = {0: 1, 1: 2, 2: 3}[c.battery_failsafe_level]
            return e.battery_status_encode(0, 0, 0, 32767, voltages, int(c.battery_current_a * 100),
                                           int(c.battery_consumed_mah), -1,
                                           int(100 * c.battery_remaining_fraction), 0, charge)
        if name == "GPS_RAW_INT":
            fix = c.gps_fix_type
            return e.gps_raw_int_encode(int(c.time_s * 1e6), fix, lat if fix >= 3 else 0, lon if fix >= 3 else 0,
                                        alt_amsl_mm if fix >= 3 else 0, 121 if fix >= 3 else 9999,
                                        200 if fix >= 3 else 9999, int(c.groundspeed_m_s * 100),
                                        int(heading_deg * 100), c.satellites)
        if name == "EXTENDED_SYS_STATE":
            return e.extended_sys_state_encode(0, c.landed_state)
        if name == "VFR_HUD":
            throttle = 0 if not c.armed else (10 if c.landed else 45)
            return e.vfr_hud_encode(c.groundspeed_m_s, c.groundspeed_m_s, int(heading_deg), throttle,
                                    c.start_alt_m + c.alt_rel_m, c.climb_m_s)
        if name == "MISSION_CURRENT":
            total = max(0, len(c.mission) - 1)
            mission_mode = 1 if c.mode == Mode.AUTO else 2
            return e.mission_current_encode(c.mission_current_seq, total, c.mission_state_code, mission_mode)
        if name == "EKF_STATUS_REPORT":
            flags = 1 | 4 | 32 | 128 | 1024 * 0
            if c.ekf_ready:
                flags = 1 | 2 | 4 | 8 | 16 | 32 | 256 | 512
            return e.ekf_status_report_encode(flags, 0.05, 0.03, 0.02, 0.01, 0.0)
        if name == "ATTITUDE":
            return e.attitude_encode(boot_ms, 0.0, 0.0, math.radians(((heading_deg + 180) % 360) - 180), 0.0, 0.0, 0.0)
        if name == "HOME_POSITION":
            if c.home is None:
                return None
            return e.home_position_encode(int(round(c.home[0] * 1e7)), int(round(c.home[1] * 1e7)),
                                          int(round(c.home[2] * 1000)), 0.0, 0.0, 0.0, [1.0, 0.0, 0.0, 0.0],
                                          0.0, 0.0, 0.0, int(c.time_s * 1e6))
        if name == "AUTOPILOT_VERSION":
            caps = (mavlink2.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT | mavlink2.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
                    | mavlink2.MAV_PROTOCOL_CAPABILITY_MISSION_INT | mavlink2.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                    | mavlink2.MAV_PROTOCOL_CAPABILITY_MAVLINK2 | mavlink2.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                    | mavlink2.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
                    | mavlink2.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT)
            major, minor, patch = FIRMWARE_VERSION
            version = (major << 24) | (minor << 16) | (patch << 8) | 255  # FIRMWARE_VERSION_TYPE_OFFICIAL
            return e.autopilot_version_encode(caps, version, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0,
                                              self.config.sysid)
        return None

    # ------------------------------------------------------------------ receiving
    def _receive(self, conn_id: int, data: bytes) -> None:
        parser = self._parsers.get(conn_id)
        if parser is None:
            parser = mavlink2.MAVLink(None, srcSystem=self.config.sysid, srcComponent=COMPONENT_ID)
            parser.robust_parsing = True
            self._parsers[conn_id] = parser
        for msg in parser.parse_buffer(data) or []:
            if msg.get_type() == "BAD_DATA" or self._link is None or self._link.drop_inbound():
                continue
            peer = Peer(conn_id=conn_id, sysid=msg.get_srcSystem(), compid=msg.get_srcComponent())
            target = getattr(msg, "target_system", 0)
            if target not in (0, self.config.sysid):
                continue
            handler = getattr(self, "_on_" + msg.get_type().lower(), None)
            if handler is not None:
                handler(msg, peer)
        self._drain_outbox()

    def _on_heartbeat(self, msg: Any, peer: Peer) -> None:
        if peer.sysid == int(self._copter.params["SYSID_MYGCS"]):
            self._copter.gcs_seen()

    def _on_manual_control(self, msg: Any, peer: Peer) -> None:
        self._on_heartbeat(msg, peer)

    # parameters
    def _param_value(self, name: str, index: int) -> Any:
        params = self._copter.params
        return self._encoder.param_value_encode(name.encode(), params[name], params.param_type(name),
                                                len(params.names), index)

    def _on_param_request_list(self, msg: Any, peer: Peer) -> None:
        for index, name in enumerate(self._copter.params.names):
            self._send(self._param_value(name, index), peer.conn_id)

    def _on_param_request_read(self, msg: Any, peer: Peer) -> None:
        params = self._copter.params
        if msg.param_index >= 0:
            if msg.param_index >= len(params.names):
                return
            name = params.names[msg.param_index]
        else:
            name = _param_name(msg.param_id)
            if name not in params:
                return  # ArduPilot stays silent for unknown names
        self._send(self._param_value(name, params.index_of(name)), peer.conn_id)

    def _on_param_set(self, msg: Any, peer: Peer) -> None:
        name = _param_name(msg.param_id)
        params = self._copter.params
        if name not in params or name == "MIS_TOTAL":
            return  # unknown parameters are ignored without a reply, like ArduPilot
        if not params.set(name, msg.param_value):
            return
        # ArduPilot announces the new value on every link with param_index 65535.
        self._send(self._param_value(name, 65535))

    # mission protocol
    def _emit_protocol(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, SendText):
                self._statustext(out.text, out.severity)
            elif isinstance(out, SendAck):
                self._send(self._encoder.mission_ack_encode(out.peer.sysid, out.peer.compid, out.result,
                                                            int(out.mission_type)), out.peer.conn_id)
            elif isinstance(out, SendCount):
                self._send(self._encoder.mission_count_encode(out.peer.sysid, out.peer.compid, out.count,
                                                              int(out.mission_type)), out.peer.conn_id)
            elif isinstance(out, SendRequest):
                encode = (self._encoder.mission_request_encode if self.config.request_legacy
                          else self._encoder.mission_request_int_encode)
                self._send(encode(out.peer.sysid, out.peer.compid, out.seq, int(out.mission_type)),
                           out.peer.conn_id)
            elif isinstance(out, SendItem):
                self._send(self._item_message(out), out.peer.conn_id)

    def _item_message(self, out: SendItem) -> Any:
        item = out.item
        current = 1 if (item.mission_type == MissionType.MISSION and item.seq == self._copter.mission_current_seq
                        and self._copter.mission_state == "running") else 0
        args = (out.peer.sysid, out.peer.compid, item.seq, item.frame, item.command, current, item.autocontinue,
                item.param1, item.param2, item.param3, item.param4)
        if out.as_int:
            return self._encoder.mission_item_int_encode(*args, item.x, item.y, item.z, int(item.mission_type))
        from sitl.params import float32
        return self._encoder.mission_item_encode(*args, float32(item.x * float32(1.0e-7)),
                                                 float32(item.y * float32(1.0e-7)), item.z, int(item.mission_type))

    def _transfer(self, msg: Any) -> MissionTransfer | None:
        try:
            return self._transfers[MissionType(getattr(msg, "mission_type", 0))]
        except ValueError:
            return None

    def _on_mission_count(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is None:
            self._emit_protocol([SendAck(peer=peer, result=ms.MISSION_UNSUPPORTED, mission_type=MissionType.MISSION)])
            return
        self._emit_protocol(transfer.handle_count(peer, msg.count, self._copter.time_s))

    def _on_mission_item_int(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is not None:
            self._emit_protocol(transfer.handle_item(peer, _item_from_msg(msg, as_int=True), self._copter.time_s))

    def _on_mission_item(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is None:
            return
        item = _item_from_msg(msg, as_int=False)
        if item.command not in (mavlink2.MAV_CMD_DO_DIGICAM_CONTROL, mavlink2.MAV_CMD_DO_DIGICAM_CONFIGURE):
            item = ms.mission_item_from_float_xy(item, msg.x, msg.y)
        self._emit_protocol(transfer.handle_item(peer, item, self._copter.time_s))

    def _on_mission_request_list(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is not None:
            self._emit_protocol(transfer.handle_request_list(peer))

    def _on_mission_request_int(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is not None:
            self._emit_protocol(transfer.handle_request(peer, msg.seq, as_int=True))

    def _on_mission_request(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is not None:
            self._emit_protocol(transfer.handle_request(peer, msg.seq, as_int=False))

    def _on_mission_clear_all(self, msg: Any, peer: Peer) -> None:
        transfer = self._transfer(msg)
        if transfer is not None:
            self._emit_protocol(transfer.handle_clear_all(peer))

    def _on_mission_ack(self, msg: Any, peer: Peer) -> None:
        pass  # end of a download; nothing to do (ArduPilot keeps no download state either)

    def _on_mission_set_current(self, msg: Any, peer: Peer) -> None:
        if self._copter.set_mission_current(msg.seq):
            self._send_mission_current()

    # modes and commands
    def _on_set_mode(self, msg: Any, peer: Peer) -> None:
        if msg.base_mode & mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            self._copter.set_mode(msg.custom_mode)

    def _on_command_long(self, msg: Any, peer: Peer) -> None:
        p = [msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7]
        self._command(msg.command, p, peer, lat_deg=msg.param5, lon_deg=msg.param6)

    def _on_command_int(self, msg: Any, peer: Peer) -> None:
        p = [msg.param1, msg.param2, msg.param3, msg.param4, float(msg.x), float(msg.y), msg.z]
        self._command(msg.command, p, peer, lat_deg=msg.x / 1e7, lon_deg=msg.y / 1e7)

    def _command(self, command: int, p: list[float], peer: Peer, *, lat_deg: float, lon_deg: float) -> None:
        result, after = self._run_command(command, p, lat_deg=lat_deg, lon_deg=lon_deg)
        self._send(self._encoder.command_ack_encode(command, result, 0, 0, peer.sysid, peer.compid), peer.conn_id)
        for msg in after:
            self._send(msg, peer.conn_id)

    def _run_command(self, command: int, p: list[float], *, lat_deg: float, lon_deg: float) -> tuple[int, list]:
        """Execute a COMMAND_LONG/COMMAND_INT; return (MAV_RESULT, messages to send after the ACK)."""
        c = self._copter
        ok = lambda flag: (_RESULT.MAV_RESULT_ACCEPTED if flag else _RESULT.MAV_RESULT_FAILED, [])  # noqa: E731
        if command == mavlink2.MAV_CMD_COMPONENT_ARM_DISARM:
            if p[0] == 1:
                return ok(c.arm(force=int(p[1]) == 2989))
            if p[0] == 0:
                return ok(c.disarm(force=int(p[1]) == 21196))
            return _RESULT.MAV_RESULT_DENIED, []
        if command == mavlink2.MAV_CMD_DO_SET_MODE:
            if not int(p[0]) & mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
                return _RESULT.MAV_RESULT_FAILED, []
            return ok(c.set_mode(int(p[1])))
        if command == mavlink2.MAV_CMD_MISSION_START:
            return ok(c.mission_start())
        if command == mavlink2.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            return ok(c.set_mode(Mode.RTL))
        if command == mavlink2.MAV_CMD_NAV_LAND:
            return ok(c.set_mode(Mode.LAND))
        if command == mavlink2.MAV_CMD_NAV_TAKEOFF:
            return ok(c.guided_takeoff(p[6]))
        if command == mavlink2.MAV_CMD_DO_REPOSITION:
            return ok(c.guided_goto(lat_deg, lon_deg, p[6]))
        if command == mavlink2.MAV_CMD_DO_SET_MISSION_CURRENT:
            return ok(c.set_mission_current(int(p[0])))
        if command == mavlink2.MAV_CMD_DO_FENCE_ENABLE:
            c.params.set("FENCE_ENABLE", 1 if int(p[0]) == 1 else 0)
            return _RESULT.MAV_RESULT_ACCEPTED, []
        if command == mavlink2.MAV_CMD_DO_GRIPPER:
            if int(p[1]) == 0:
                return ok(c.gripper_release())
            return ok(c.params["GRIP_ENABLE"] != 0)
        if command == mavlink2.MAV_CMD_DO_CHANGE_SPEED:
            if p[1] > 0:
                c.speed_override_m_s = p[1]
            return _RESULT.MAV_RESULT_ACCEPTED, []
        if command in (mavlink2.MAV_CMD_GET_HOME_POSITION, mavlink2.MAV_CMD_REQUEST_MESSAGE,
                       mavlink2.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES):
            if command == mavlink2.MAV_CMD_GET_HOME_POSITION:
                name = "HOME_POSITION"
            elif command == mavlink2.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
                name = "AUTOPILOT_VERSION"
            else:
                name = _message_name(int(p[0]))
            if name is None:
                return _RESULT.MAV_RESULT_FAILED, []
            if name == "HEARTBEAT":
                return _RESULT.MAV_RESULT_ACCEPTED, [self._heartbeat()]
            msg = self._message(name)
            return (_RESULT.MAV_RESULT_ACCEPTED, [msg]) if msg is not None else (_RESULT.MAV_RESULT_FAILED, [])
        if command == mavlink2.MAV_CMD_SET_MESSAGE_INTERVAL:
            name = _message_name(int(p[0]))
            if name not in DEFAULT_STREAM_HZ:
                return _RESULT.MAV_RESULT_FAILED, []
            interval_us = p[1]
            if interval_us < 0:
                self._stream_hz[name] = 0.0
            elif interval_us == 0:
                self._stream_hz[name] = DEFAULT_STREAM_HZ[name]
            else:
                self._stream_hz[name] = min(_MAX_STREAM_HZ, 1e6 / interval_us)
            self._next_due.pop(name, None)
            return _RESULT.MAV_RESULT_ACCEPTED, []
        return _RESULT.MAV_RESULT_UNSUPPORTED, []

    def _on_request_data_stream(self, msg: Any, peer: Peer) -> None:
        groups = STREAM_GROUPS.values() if msg.req_stream_id == 0 else [STREAM_GROUPS.get(msg.req_stream_id, ())]
        rate = min(_MAX_STREAM_HZ, float(msg.req_message_rate)) if msg.start_stop else 0.0
        for names in groups:
            for name in names:
                self._stream_hz[name] = rate
                self._next_due.pop(name, None)


def _param_name(param_id: Any) -> str:
    if isinstance(param_id, bytes):
        param_id = param_id.decode("ascii", "replace")
    return param_id.rstrip("\x00")


def _message_name(msgid: int) -> str | None:
    cls = mavlink2.mavlink_map.get(msgid)
    return cls.msgname if cls is not None else None


def _item_from_msg(msg: Any, *, as_int: bool) -> MissionItem:
    try:
        mission_type = MissionType(getattr(msg, "mission_type", 0))
    except ValueError:
        mission_type = MissionType.MISSION
    return MissionItem(
        seq=msg.seq, command=msg.command, frame=msg.frame, param1=msg.param1, param2=msg.param2,
        param3=msg.param3, param4=msg.param4, x=int(msg.x) if as_int else 0, y=int(msg.y) if as_int else 0,
        z=msg.z, current=msg.current, autocontinue=msg.autocontinue, mission_type=mission_type,
    )


# ---------------------------------------------------------------------- command line
def parse_home(text: str) -> tuple[float, float, float, float]:
    """Parse SITL's ``--home LAT,LON,ALT,HEADING`` (ALT metres AMSL, HEADING degrees)."""
    parts = [float(v) for v in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("--home needs LAT,LON,ALT,HEADING")
    return parts[0], parts[1], parts[2], parts[3]


def config_from_args(argv: list[str] | None = None) -> SimVehicleConfig:
    """Build a :class:`SimVehicleConfig` from SITL-like command-line arguments."""
    parser = argparse.ArgumentParser(prog="python -m sitl.simvehicle", description=__doc__.splitlines()[0])
    parser.add_argument("--instance", "-I", type=int, default=0, help="port = 5760 + 10 * instance")
    parser.add_argument("--home", type=parse_home, required=True, help="LAT,LON,ALT,HEADING")
    parser.add_argument("--sysid", type=int, default=None, help="SYSID_THISMAV (default instance + 1)")
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--packet-loss", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gps-warmup-s", type=float, default=15.0)
    parser.add_argument("--request-int", action="store_true",
                        help="request upload items with MISSION_REQUEST_INT (default: legacy MISSION_REQUEST "
                             "like ArduPilot)")
    parser.add_argument("--model", default="island-hauler-5", choices=sorted(AIRFRAMES))
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    lat, lon, alt, heading = args.home
    overrides = {}
    for assignment in args.param:
        name, _, value = assignment.partition("=")
        overrides[name.strip()] = float(value)
    return SimVehicleConfig(
        sysid=args.sysid if args.sysid is not None else args.instance + 1,
        home_lat_deg=lat, home_lon_deg=lon, home_alt_m=alt, heading_deg=heading, speedup=args.speedup,
        port=args.port if args.port is not None else BASE_PORT + 10 * args.instance,
        packet_loss=args.packet_loss, duplicate=args.duplicate, reorder=args.reorder,
        latency_s=args.latency_ms / 1000.0, seed=args.seed, gps_warmup_s=args.gps_warmup_s,
        request_legacy=not args.request_int, model=args.model, params=overrides,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one simulated vehicle until SIGINT/SIGTERM; print ``SIMVEHICLE READY <url>`` when listening."""
    config = config_from_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with SimVehicle(config) as vehicle:
        print(f"SIMVEHICLE READY {vehicle.url} sysid={config.sysid}", flush=True)
        while not stop.wait(0.5):
            if vehicle._thread is None or not vehicle._thread.is_alive():
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
