"""Kinematic ArduCopter: modes, arming, AUTO mission execution, battery, fence and GCS failsafes.

Pure and single-threaded: the owner calls :meth:`Copter.step` with simulated seconds and reads the
notifications the copter leaves in :attr:`Copter.outbox` (STATUSTEXTs, MISSION_ITEM_REACHED).
Ground is flat at home altitude (as in SITL without terrain data): "landed" means alt_rel_m <= 0.
Positions move straight toward targets at the WPNAV speeds; there is no attitude dynamics.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from flight_plans.mission_item import MissionItem
from sitl import geo
from sitl import mission_storage as ms
from sitl.params import ParamStore


class Mode(enum.IntEnum):
    """ArduCopter flight mode numbers (HEARTBEAT.custom_mode)."""

    STABILIZE = 0
    ACRO = 1
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    CIRCLE = 7
    LAND = 9
    POSHOLD = 16
    BRAKE = 17
    SMART_RTL = 21


_NEEDS_POSITION = {Mode.AUTO, Mode.GUIDED, Mode.LOITER, Mode.RTL, Mode.CIRCLE, Mode.POSHOLD,
                   Mode.BRAKE, Mode.SMART_RTL}
_ARMABLE = {Mode.STABILIZE, Mode.ACRO, Mode.ALT_HOLD, Mode.GUIDED, Mode.LOITER, Mode.POSHOLD}

# EXTENDED_SYS_STATE.landed_state
LANDED_ON_GROUND, LANDED_IN_AIR, LANDED_TAKEOFF, LANDED_LANDING = 1, 2, 3, 4
# MISSION_CURRENT.mission_state
MISSION_STATE_NO_MISSION, MISSION_STATE_NOT_STARTED, MISSION_STATE_ACTIVE = 1, 2, 3
MISSION_STATE_PAUSED, MISSION_STATE_COMPLETE = 4, 5

_CMD_LABEL = {ms.NAV_WAYPOINT: "WP", ms.NAV_TAKEOFF: "Takeoff", ms.NAV_LAND: "Land",
              ms.NAV_RETURN_TO_LAUNCH: "RTL", ms.NAV_PAYLOAD_PLACE: "PayloadPlace",
              ms.NAV_DELAY: "Delay", ms.NAV_LOITER_TIME: "LoitTime", ms.NAV_LOITER_UNLIM: "LoitUnlim",
              ms.DO_GRIPPER: "Gripper", ms.DO_CHANGE_SPEED: "ChangeSpeed", ms.DO_JUMP: "Jump"}


@dataclass(frozen=True, kw_only=True)
class AirframeModel:
    """Power and battery of a simulated airframe. Units in names (see airframe_from_drone_model)."""

    name: str = "island-hauler-5"
    cells: int = 6
    hover_power_w: float = 900.0
    cruise_power_per_m_s_sq_w: float = 2.0  # extra power ~ airspeed^2 (parasitic drag)
    armed_idle_power_w: float = 60.0
    avionics_power_w: float = 8.0
    internal_resistance_ohm: float = 0.02


    capacity_mah: float = 81000.0  # pack capacity; BATT_CAPACITY unless a parameter file says otherwise


NOMINAL_CELL_V = 3.7
STATS_FLUSH_INTERVAL_S = 30.0  # AP_Stats::flush_interval_ms


def airframe_from_drone_model(model_id: str) -> AirframeModel:
    """An airframe whose hover/cruise power and pack match ``flight_plans``' model ``model_id``, so a
    flight drains the simulated battery about as much as the planner expects (payload not modelled)."""
    from flight_plans.energy import get_drone_model, hover_power_w, level_flight

    model = get_drone_model(model_id)
    hover_w = hover_power_w(model, payload_kg=0.0)
    cruise_w = level_flight(model, payload_kg=0.0, airspeed_m_s=model.cruise_speed_m_s).power_w
    cells = 6
    capacity_mah = model.battery_wh / (cells * NOMINAL_CELL_V) * 1000.0
    return AirframeModel(
        name=model_id, cells=cells, hover_power_w=hover_w,
        cruise_power_per_m_s_sq_w=max(0.0, (cruise_w - hover_w) / model.cruise_speed_m_s ** 2),
        capacity_mah=capacity_mah,
        # A bigger pack is more cells in parallel: its resistance (and voltage sag) is lower.
        internal_resistance_ohm=0.02 * 22000.0 / capacity_mah)


AIRFRAMES = {name: airframe_from_drone_model(name) for name in ("island-hauler-5", "island-courier-2")}


@dataclass
class Notification:
    """Something the link layer must send: a STATUSTEXT or a MISSION_ITEM_REACHED."""

    text: str | None = None
    severity: int = 6
    reached_seq: int | None = None


@dataclass
class _Nav:
    """The running navigation target (mission command, RTL, LAND, GUIDED)."""

    kind: str  # "hold", "goto", "takeoff", "land", "rtl", "payload", "delay"
    lat_deg: float = 0.0
    lon_deg: float = 0.0
    alt_m: float = 0.0
    stage: str = ""
    timer_s: float = 0.0
    hold_s: float = 0.0
    extra: dict = field(default_factory=dict)


class Copter:
    """A simulated ArduCopter (see module docstring). Not thread-safe: the owner locks."""

    def __init__(self, *, params: ParamStore, home_lat_deg: float, home_lon_deg: float,
                 home_alt_m: float, heading_deg: float, gps_warmup_s: float,
                 airframe: AirframeModel) -> None:
        self.params = params
        self.airframe = airframe
        self.start_lat_deg, self.start_lon_deg, self.start_alt_m = home_lat_deg, home_lon_deg, home_alt_m
        self.heading_deg = heading_deg
        self.gps_warmup_s = gps_warmup_s
        self.time_s = 0.0
        self.lat_deg, self.lon_deg, self.alt_rel_m = home_lat_deg, home_lon_deg, 0.0
        self.groundspeed_m_s = 0.0
        self.climb_m_s = 0.0
        self.vn_m_s = self.ve_m_s = 0.0
        self.home: tuple[float, float, float] | None = None
        self.home_version = 0
        self.mode = Mode.STABILIZE
        self.armed = False
        self.auto_armed = False
        self.landed = True
        self.landed_state = LANDED_ON_GROUND
        self.nav = _Nav(kind="hold")
        self.mission: list[MissionItem] = []
        self.mission_state = "stopped"  # stopped | running | complete
        self.mission_index = 0
        self.speed_override_m_s: float | None = None
        self.payload_released = False
        self.fence_breached = False
        self.fence_breach_now = False
        self.fence_items: list[MissionItem] = []
        self.rally_items: list[MissionItem] = []
        self.gcs_last_seen_s: float | None = None
        self.gcs_failsafe = False
        self.gcs_failsafe_triggered = False
        self.battery_consumed_mah = 0.0
        self.battery_current_a = 0.0
        self.battery_failsafe_level = 0  # 0 none, 1 low, 2 critical
        self._batt_low_since_s: dict[int, float | None] = {1: None, 2: None}
        self.wind_n_m_s = self.wind_e_m_s = 0.0
        self._disarm_timer_s = 0.0
        self._last_prearm_text_s = -1e9
        self.outbox: list[Notification] = []
        # AP_Stats: flight time accumulates in RAM and reaches the STAT_FLTTIME parameter every 30 s.
        self._stats_flttime_s = int(params["STAT_FLTTIME"])
        self._stats_flying_since_s: float | None = None
        self._stats_last_flush_s = 0.0

    # ------------------------------------------------------------------ status
    def _text(self, text: str, severity: int = 6) -> None:
        self.outbox.append(Notification(text=text, severity=severity))

    @property
    def gps_fix_type(self) -> int:
        """GPS_RAW_INT.fix_type: 1 no fix during the first 60 % of warm-up, then 3 (3D)."""
        return 3 if self.time_s >= 0.6 * self.gps_warmup_s else 1

    @property
    def satellites(self) -> int:
        return 0 if self.gps_fix_type < 3 else min(16, 6 + int(self.time_s - 0.6 * self.gps_warmup_s))

    @property
    def ekf_ready(self) -> bool:
        """EKF has a position estimate (after the whole warm-up)."""
        return self.time_s >= self.gps_warmup_s

    def prearm_failure(self) -> str | None:
        """Return the first failing pre-arm check's text (without the "PreArm: " prefix)."""
        if self.params["ARMING_CHECK"] == 0:
            return None
        if self.gps_fix_type < 3:
            return "GPS 1: Bad fix"
        if not self.ekf_ready:
            return "Need Position Estimate"
        if self.fence_enabled() and self._fence_breach_kind() is not None:
            return "Fence: vehicle outside fence"
        return None

    @property
    def battery_voltage_v(self) -> float:
        soc = self.battery_remaining_fraction
        cell_v = 3.3 + 0.9 * soc - 0.15 * (1 - soc) ** 6  # gentle slope, knee when nearly empty
        return max(0.0, self.airframe.cells * cell_v - self.battery_current_a * self.airframe.internal_resistance_ohm)

    @property
    def battery_remaining_fraction(self) -> float:
        capacity = max(1.0, self.params["BATT_CAPACITY"])
        return max(0.0, 1.0 - self.battery_consumed_mah / capacity)

    @property
    def mission_current_seq(self) -> int:
        return self.mission_index

    @property
    def mission_state_code(self) -> int:
        if len(self.mission) <= 1:
            return MISSION_STATE_NO_MISSION
        if self.mission_state == "running":
            return MISSION_STATE_ACTIVE if self.mode == Mode.AUTO else MISSION_STATE_PAUSED
        if self.mission_state == "complete":
            return MISSION_STATE_COMPLETE
        return MISSION_STATE_NOT_STARTED

    # ------------------------------------------------------------------ commands
    def gcs_seen(self) -> None:
        """Record traffic from SYSID_MYGCS (HEARTBEAT / MANUAL_CONTROL) for the GCS failsafe."""
        self.gcs_last_seen_s = self.time_s

    def arm(self, *, force: bool = False) -> bool:
        """Arm like ``AP_Arming::arm``; return False (with a STATUSTEXT) when a check fails."""
        if self.armed:
            return True
        if not force:
            failure = self.prearm_failure()
            if failure is not None:
                self._text(f"PreArm: {failure}", 2)
                return False
            if self.mode not in _ARMABLE and not (self.mode == Mode.AUTO and int(self.params["AUTO_OPTIONS"]) & 1):
                self._text("Arm: Mode not armable", 2)
                return False
        if self.landed:
            # The pad crew loads a box before every flight; a drop releases it once.
            self.payload_released = False
        self.armed = True
        self.auto_armed = False
        self._disarm_timer_s = 0.0
        if self.home is None or self.landed:
            self._set_home(self.lat_deg, self.lon_deg, self.start_alt_m + self.alt_rel_m)
        self.nav = _Nav(kind="hold", lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=self.alt_rel_m)
        return True

    def disarm(self, *, force: bool = False) -> bool:
        """Disarm; refused in flight unless forced (MAV_CMD_COMPONENT_ARM_DISARM param2 21196)."""
        if not self.armed:
            return True
        if not self.landed and not force:
            return False
        self._do_disarm()
        return True

    def _do_disarm(self) -> None:
        self.armed = False
        self.auto_armed = False
        # AP_Arming_Copter::disarm calls mission.reset(): no current nav command, so MISSION_CURRENT
        # reports seq 0 (get_current_nav_index); the mission state (e.g. complete) is left as it was.
        self.mission_index = 0
        self._text("Disarming motors", 6)

    def set_mode(self, mode: int, *, quiet: bool = False) -> bool:
        """Change flight mode like ``Copter::set_mode``; return False when the mode refuses."""
        try:
            new_mode = Mode(mode)
        except ValueError:
            return False
        if new_mode == self.mode:
            return True
        if new_mode in _NEEDS_POSITION and not self.ekf_ready:
            if not quiet:
                self._text(f"Flight mode change failed: {new_mode.name}", 4)
            return False
        if new_mode == Mode.AUTO:
            if len(self.mission) <= 1:
                return False
            if self.armed and self.landed and not self._starts_with_takeoff():
                self._text("Auto: Missing Takeoff Cmd", 2)
                return False
        previous = self.mode
        self.mode = new_mode
        if previous == Mode.AUTO and self.mission_state == "running":
            self.mission_state = "stopped"
        self._enter_mode()
        return True

    def _starts_with_takeoff(self) -> bool:
        index = max(1, self.mission_index) if self.mission_state != "complete" else 1
        for item in self.mission[index:]:
            if item.command in ms.NAV_COMMANDS:
                return item.command == ms.NAV_TAKEOFF
        return False

    def _enter_mode(self) -> None:
        here = dict(lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=self.alt_rel_m)
        if self.mode == Mode.AUTO:
            self._mission_start_or_resume()
        elif self.mode in (Mode.RTL, Mode.SMART_RTL):
            self.nav = _Nav(kind="rtl", stage="climb", **here)
        elif self.mode == Mode.LAND:
            self.nav = _Nav(kind="land", stage="descend", **here)
        else:
            self.nav = _Nav(kind="hold", **here)

    def mission_start(self) -> bool:
        """MAV_CMD_MISSION_START: needs armed; switches to AUTO and lets the mission fly."""
        if not self.armed:
            return False
        if self.mode != Mode.AUTO and not self.set_mode(Mode.AUTO):
            return False
        self.auto_armed = True
        if self.mission_state != "running":
            self._mission_start_or_resume()
        return True

    def set_mission_current(self, seq: int) -> bool:
        """MAV_CMD_DO_SET_MISSION_CURRENT / MISSION_SET_CURRENT."""
        if seq < 0 or seq >= len(self.mission):
            return False
        seq = max(1, seq)
        self.mission_index = seq
        if self.mission_state == "running" and self.mode == Mode.AUTO:
            self._start_nav_from(seq)
        elif self.mission_state == "complete":
            self.mission_state = "stopped"
        return True

    def guided_takeoff(self, alt_m: float) -> bool:
        """MAV_CMD_NAV_TAKEOFF in GUIDED: climb to alt_m above home."""
        if self.mode != Mode.GUIDED or not self.armed or not self.landed:
            return False
        self.auto_armed = True
        self.nav = _Nav(kind="takeoff", lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=alt_m)
        return True

    def guided_goto(self, lat_deg: float, lon_deg: float, alt_m: float) -> bool:
        """MAV_CMD_DO_REPOSITION in GUIDED (flying): fly to a point, alt_m above home."""
        if self.mode != Mode.GUIDED or not self.armed or self.landed:
            return False
        self.nav = _Nav(kind="goto", lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m)
        return True

    def gripper_release(self) -> bool:
        """Release the payload (needs GRIP_ENABLE and a servo with SERVOx_FUNCTION 28)."""
        if self.params["GRIP_ENABLE"] == 0 or self.params["SERVO9_FUNCTION"] != 28:
            return False
        if not self.payload_released:
            self.payload_released = True
            self._text("Gripper load released", 6)
        return True

    def replace_battery(self) -> bool:
        """Put in a fully charged pack (ground crew); only while disarmed. Returns whether it did.

        Like a real pack change, the battery failsafe state resets (ArduPilot resets it on reboot;
        a swap on the pad with the autopilot powered through is modelled the same way).
        """
        if self.armed:
            return False
        self.battery_consumed_mah = 0.0
        self.battery_failsafe_level = 0
        return True

    def set_wind(self, *, speed_m_s: float, from_deg: float) -> None:
        """Set a steady wind (affects power draw only; the position controller holds ground track)."""
        to_rad = math.radians(from_deg + 180.0)
        self.wind_n_m_s, self.wind_e_m_s = speed_m_s * math.cos(to_rad), speed_m_s * math.sin(to_rad)

    # ------------------------------------------------------------------ mission
    def mission_changed(self, items: list[MissionItem]) -> None:
        """Take a new copy of the stored mission (item 0 = home)."""
        self.mission = list(items)
        self.params.set("MIS_TOTAL", len(items))
        if self.mission_index >= len(items):
            self.mission_index = 0
            if self.mission_state == "running":
                self.mission_state = "complete"
                self._exit_mission()

    def can_clear_mission(self) -> bool:
        """AP_Mission::clear refuses while the mission is running."""
        return not (self.mission_state == "running" and self.mode == Mode.AUTO)

    def _mission_start_or_resume(self) -> None:
        if self.mission_state == "complete" or self.mission_index < 1 or int(self.params["MIS_RESTART"]) == 1:
            start = 1
        else:
            start = self.mission_index
        self.mission_state = "running"
        self._start_nav_from(start)

    def _start_nav_from(self, index: int) -> None:
        """Start the first NAV command at or after index; run DO commands passed on the way."""
        while index < len(self.mission):
            item = self.mission[index]
            if item.command in ms.NAV_COMMANDS:
                self.mission_index = index
                self._text(f"Mission: {index} {_CMD_LABEL.get(item.command, 'Cmd')}")
                self._start_nav(item)
                # DO commands after a NAV command run as soon as that NAV command starts.
                j = index + 1
                while j < len(self.mission) and self.mission[j].command not in ms.NAV_COMMANDS:
                    self._run_do(self.mission[j], j)
                    j += 1
                return
            self._run_do(item, index)
            index += 1
        self.mission_state = "complete"
        self._exit_mission()

    def _run_do(self, item: MissionItem, index: int) -> None:
        self._text(f"Mission: {index} {_CMD_LABEL.get(item.command, 'Cmd')}")
        if item.command == ms.DO_GRIPPER and int(item.param2) == 0:
            self.gripper_release()
        elif item.command == ms.DO_CHANGE_SPEED and item.param2 > 0:
            self.speed_override_m_s = item.param2
        elif item.command == ms.DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1 if int(item.param1) == 1 else 0)
        self.outbox.append(Notification(reached_seq=index))

    def _item_target(self, item: MissionItem) -> tuple[float, float, float]:
        if item.x == 0 and item.y == 0:
            lat, lon = self.lat_deg, self.lon_deg
        else:
            lat, lon = item.x / 1e7, item.y / 1e7
        alt = item.z
        if item.frame == 0 and self.home is not None:
            alt = item.z - self.home[2]
        if item.x == 0 and item.y == 0 and item.z == 0:
            alt = self.alt_rel_m
        return lat, lon, alt

    def _start_nav(self, item: MissionItem) -> None:
        lat, lon, alt = self._item_target(item)
        cmd = item.command
        if cmd == ms.NAV_TAKEOFF:
            self.nav = _Nav(kind="takeoff", lat_deg=self.lat_deg, lon_deg=self.lon_deg,
                            alt_m=max(alt, self.alt_rel_m if not self.landed else 0.0))
        elif cmd in (ms.NAV_WAYPOINT, ms.NAV_LOITER_TIME):
            self.nav = _Nav(kind="goto", lat_deg=lat, lon_deg=lon, alt_m=alt, hold_s=item.param1)
        elif cmd == ms.NAV_LOITER_UNLIM:
            self.nav = _Nav(kind="goto", lat_deg=lat, lon_deg=lon, alt_m=alt, hold_s=math.inf)
        elif cmd == ms.NAV_LAND:
            stage = "descend" if item.x == 0 and item.y == 0 else "approach"
            self.nav = _Nav(kind="land", stage=stage, lat_deg=lat, lon_deg=lon, alt_m=self.alt_rel_m)
        elif cmd == ms.NAV_RETURN_TO_LAUNCH:
            self.nav = _Nav(kind="rtl", stage="climb", lat_deg=self.lat_deg, lon_deg=self.lon_deg,
                            alt_m=self.alt_rel_m)
        elif cmd == ms.NAV_PAYLOAD_PLACE:
            self.nav = _Nav(kind="payload", stage="approach", lat_deg=lat, lon_deg=lon,
                            alt_m=self.alt_rel_m, extra={"max_descent_m": item.param1})
        elif cmd == ms.NAV_DELAY:
            self.nav = _Nav(kind="delay", lat_deg=self.lat_deg, lon_deg=self.lon_deg,
                            alt_m=self.alt_rel_m, hold_s=max(0.0, item.param1))

    def _nav_complete(self) -> None:
        """The running mission NAV command is done: report it and start the next one."""
        index = self.mission_index
        item = self.mission[index]
        if item.command in (ms.NAV_WAYPOINT, ms.NAV_LOITER_TIME):
            self._text(f"Reached command #{index}")
        self.outbox.append(Notification(reached_seq=index))
        j = index + 1
        while j < len(self.mission) and self.mission[j].command not in ms.NAV_COMMANDS:
            j += 1  # DO commands after this NAV command already ran when it started
        if j >= len(self.mission):
            self.mission_state = "complete"
            self._exit_mission()
            return
        self._start_nav_from(j)

    def _exit_mission(self) -> None:
        if self.mode != Mode.AUTO:
            return
        if self.landed and self.armed:
            self._do_disarm()
        self.nav = _Nav(kind="hold", lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=self.alt_rel_m)

    # ------------------------------------------------------------------ home/fence/rally
    def _set_home(self, lat: float, lon: float, alt_amsl_m: float) -> None:
        self.home = (lat, lon, alt_amsl_m)
        self.home_version += 1

    def fence_enabled(self) -> bool:
        return self.params["FENCE_ENABLE"] != 0

    def _fence_breach_kind(self) -> str | None:
        fence_type = int(self.params["FENCE_TYPE"])
        if fence_type & 1 and self.alt_rel_m > self.params["FENCE_ALT_MAX"]:
            return "Max Alt"
        if fence_type & 2 and self.home is not None:
            if geo.distance_m(self.lat_deg, self.lon_deg, self.home[0], self.home[1]) > self.params["FENCE_RADIUS"]:
                return "Circle"
        if fence_type & 4:
            i = 0
            items = self.fence_items
            while i < len(items):
                item = items[i]
                if item.command in (ms.FENCE_POLYGON_INCLUSION, ms.FENCE_POLYGON_EXCLUSION):
                    count = int(item.param1)
                    vertices = [(v.x / 1e7, v.y / 1e7) for v in items[i:i + count]]
                    inside = geo.point_in_polygon(self.lat_deg, self.lon_deg, vertices)
                    if inside != (item.command == ms.FENCE_POLYGON_INCLUSION):
                        return "Polygon"
                    i += count
                    continue
                if item.command in (ms.FENCE_CIRCLE_INCLUSION, ms.FENCE_CIRCLE_EXCLUSION):
                    inside = geo.distance_m(self.lat_deg, self.lon_deg, item.x / 1e7, item.y / 1e7) <= item.param1
                    if inside != (item.command == ms.FENCE_CIRCLE_INCLUSION):
                        return "Polygon"
                i += 1
        return None

    def _rtl_destination(self) -> tuple[float, float]:
        assert self.home is not None
        best = (self.home[0], self.home[1])
        best_d = geo.distance_m(self.lat_deg, self.lon_deg, *best) if self.params["RALLY_INCL_HOME"] else math.inf
        for item in self.rally_items:
            d = geo.distance_m(self.lat_deg, self.lon_deg, item.x / 1e7, item.y / 1e7)
            if d < best_d:
                best, best_d = (item.x / 1e7, item.y / 1e7), d
        return best

    # ------------------------------------------------------------------ failsafes
    def _failsafe_action(self, action: int, reason: str) -> None:
        """Apply an FS action number (1 land / 2 RTL … for battery; callers map theirs)."""
        if action == 0:
            return
        if action in (2, 3) and self.set_mode(Mode.RTL, quiet=True):
            return
        self.set_mode(Mode.LAND, quiet=True)

    def _check_gcs_failsafe(self) -> None:
        enable = int(self.params["FS_GCS_ENABLE"])
        if enable == 0 or self.gcs_last_seen_s is None:
            return
        late = self.time_s - self.gcs_last_seen_s > self.params["FS_GCS_TIMEOUT"]
        if not late:
            if self.gcs_failsafe:
                self.gcs_failsafe = False
                self._text("GCS Failsafe Cleared", 2)
            return
        if self.gcs_failsafe:
            return
        self.gcs_failsafe = True
        self.gcs_failsafe_triggered = True
        if not self.armed:
            self._text("GCS Failsafe", 4)
            return
        if self.landed:
            self._text("GCS Failsafe - Disarming", 4)
            self._do_disarm()
            return
        # FS_OPTIONS bit 1 (value 2): continue the mission in AUTO on a GCS failsafe (ArduCopter);
        # bit 4 (16) is for pilot-controlled modes, which the simulator does not fly.
        if self.mode == Mode.AUTO and (enable == 2 or int(self.params["FS_OPTIONS"]) & 2):
            self._text("GCS Failsafe - Continuing Auto Mode", 4)
            return
        self._text("GCS Failsafe", 4)
        # 1 RTL, 3 SmartRTL->RTL, 4 SmartRTL->land, 5 land, 6 DO_LAND_START->RTL
        if enable == 5:
            self.set_mode(Mode.LAND, quiet=True)
        elif not self.set_mode(Mode.RTL, quiet=True):
            self.set_mode(Mode.LAND, quiet=True)

    def _check_battery(self) -> None:
        voltage = self.battery_voltage_v
        for level, volt_param, mah_param, act_param in (
            (2, "BATT_CRT_VOLT", "BATT_CRT_MAH", "BATT_FS_CRT_ACT"),
            (1, "BATT_LOW_VOLT", "BATT_LOW_MAH", "BATT_FS_LOW_ACT"),
        ):
            if self.battery_failsafe_level >= level:
                continue
            volt_limit = self.params[volt_param]
            mah_limit = self.params[mah_param]
            remaining_mah = self.params["BATT_CAPACITY"] - self.battery_consumed_mah
            below_v = volt_limit > 0 and voltage < volt_limit
            if below_v:
                if self._batt_low_since_s[level] is None:
                    self._batt_low_since_s[level] = self.time_s
            else:
                self._batt_low_since_s[level] = None
            timed_out = below_v and self.time_s - self._batt_low_since_s[level] >= self.params["BATT_LOW_TIMER"]  # type: ignore[operator]
            if timed_out or (mah_limit > 0 and remaining_mah < mah_limit):
                self.battery_failsafe_level = level
                name = "low" if level == 1 else "critical"
                self._text(f"Battery 1 is {name} {voltage:.2f}V used {self.battery_consumed_mah:.0f} mAh", 2)
                if self.armed:
                    if self.landed:
                        self._text("Battery Failsafe - Disarming", 4)
                        self._do_disarm()
                    else:
                        self._text("Battery Failsafe", 4)
                        self._failsafe_action(int(self.params[act_param]), "battery")
                break

    def _check_fence(self) -> None:
        if not self.fence_enabled() or not self.armed or self.landed:
            self.fence_breach_now = False
            return
        kind = self._fence_breach_kind()
        if kind is None:
            self.fence_breach_now = False
            return
        if self.fence_breach_now:
            return
        self.fence_breach_now = True
        self.fence_breached = True
        self._text(f"Fence Breached: {kind}", 2)
        action = int(self.params["FENCE_ACTION"])
        if action == 0:
            return
        if action == 2 or not self.set_mode(Mode.RTL, quiet=True):
            self.set_mode(Mode.LAND, quiet=True)

    # ------------------------------------------------------------------ physics
    def step(self, dt_s: float) -> None:
        """Advance simulated time by dt_s seconds (callers keep dt_s <= ~0.1 s)."""
        self.time_s += dt_s
        if self.home is None and self.ekf_ready:
            self._set_home(self.start_lat_deg, self.start_lon_deg, self.start_alt_m)
        prev_lat, prev_lon, prev_alt = self.lat_deg, self.lon_deg, self.alt_rel_m
        if self.armed:
            self._fly(dt_s)
        north, east = geo.offset_ne_m(prev_lat, prev_lon, self.lat_deg, self.lon_deg)
        self.vn_m_s, self.ve_m_s = north / dt_s, east / dt_s
        self.groundspeed_m_s = math.hypot(north, east) / dt_s
        self.climb_m_s = (self.alt_rel_m - prev_alt) / dt_s
        self._drain_battery(dt_s)
        self._check_auto_disarm(dt_s)
        self._check_battery()
        self._check_fence()
        self._check_gcs_failsafe()
        self._update_stats()
        if not self.ekf_ready and self.time_s - self._last_prearm_text_s >= 30.0 and self.time_s > 1.0:
            # ArduPilot repeats failing pre-arm checks every 30 s while disarmed.
            self._last_prearm_text_s = self.time_s
            failure = self.prearm_failure()
            if failure is not None and not self.armed:
                self._text(f"PreArm: {failure}", 2)

    def _update_stats(self) -> None:
        """AP_Stats as ArduCopter drives it: ``set_flying(!land_complete)`` on every change, and
        ``update()`` flushing whole seconds of flight time to STAT_FLTTIME when 30 s have passed
        since the last flush (partial seconds are dropped at landing, as in ``update_flighttime``)."""
        if not self.landed and self._stats_flying_since_s is None:
            self._stats_flying_since_s = self.time_s
        elif self.landed and self._stats_flying_since_s is not None:
            self._stats_add_flight_time()
            self._stats_flying_since_s = None
        if self.time_s - self._stats_last_flush_s > STATS_FLUSH_INTERVAL_S:
            self._stats_add_flight_time()
            self.params.set("STAT_FLTTIME", self._stats_flttime_s)
            self._stats_last_flush_s = self.time_s

    def _stats_add_flight_time(self) -> None:
        if self._stats_flying_since_s is not None:
            whole_s = int(self.time_s - self._stats_flying_since_s)
            self._stats_flttime_s += whole_s
            self._stats_flying_since_s += whole_s

    def _drain_battery(self, dt_s: float) -> None:
        power_w = self.airframe.avionics_power_w
        if self.armed:
            if self.landed:
                power_w += self.airframe.armed_idle_power_w
            else:
                air_n, air_e = self.vn_m_s - self.wind_n_m_s, self.ve_m_s - self.wind_e_m_s
                airspeed = math.hypot(air_n, air_e)
                power_w += self.airframe.hover_power_w + self.airframe.cruise_power_per_m_s_sq_w * airspeed**2
                power_w += max(0.0, self.climb_m_s) * 150.0  # potential energy of a ~15 kg craft
        voltage = max(1.0, self.airframe.cells * (3.3 + 0.9 * self.battery_remaining_fraction))
        self.battery_current_a = power_w / voltage
        self.battery_consumed_mah += self.battery_current_a * dt_s / 3.6

    def _check_auto_disarm(self, dt_s: float) -> None:
        # Copter::auto_disarm_check: landed with zero throttle for DISARM_DELAY s -> disarm. A GCS-only
        # vehicle has zero throttle unless a takeoff (MISSION_START / GUIDED takeoff) is under way.
        taking_off = self.auto_armed and self.nav.kind == "takeoff"
        if not self.armed or not self.landed or taking_off or self.params["DISARM_DELAY"] <= 0:
            self._disarm_timer_s = 0.0
            return
        if self.mode == Mode.AUTO and self.auto_armed:
            self._disarm_timer_s = 0.0
            return
        self._disarm_timer_s += dt_s
        if self._disarm_timer_s >= self.params["DISARM_DELAY"]:
            self._do_disarm()

    def _speeds(self) -> tuple[float, float, float]:
        horizontal = self.speed_override_m_s or self.params["WPNAV_SPEED"] / 100.0
        if self.nav.kind == "rtl" and self.params["RTL_SPEED"] > 0:
            horizontal = self.params["RTL_SPEED"] / 100.0
        return horizontal, self.params["WPNAV_SPEED_UP"] / 100.0, self.params["WPNAV_SPEED_DN"] / 100.0

    def _move(self, lat: float, lon: float, alt: float, dt_s: float, *, vertical_first: bool = False) -> bool:
        """Move toward (lat, lon, alt above home); return True when within WPNAV_RADIUS."""
        h_speed, up, dn = self._speeds()
        north, east = geo.offset_ne_m(self.lat_deg, self.lon_deg, lat, lon)
        dist = math.hypot(north, east)
        dalt = alt - self.alt_rel_m
        if not (vertical_first and abs(dalt) > 0.5):
            step = min(dist, h_speed * dt_s)
            if dist > 1e-9:
                self.lat_deg, self.lon_deg = geo.move_ne(self.lat_deg, self.lon_deg,
                                                         north / dist * step, east / dist * step)
        v_step = min(abs(dalt), (up if dalt > 0 else dn) * dt_s)
        self.alt_rel_m += math.copysign(v_step, dalt)
        remaining = math.hypot(dist - min(dist, h_speed * dt_s), alt - self.alt_rel_m)
        return remaining <= max(0.3, self.params["WPNAV_RADIUS"] / 100.0) and abs(alt - self.alt_rel_m) < 0.3

    def _descend(self, dt_s: float) -> bool:
        """Land descent (LAND_SPEED below LAND_ALT_LOW); return True at touchdown."""
        if self.alt_rel_m > self.params["LAND_ALT_LOW"] / 100.0:
            rate = self.params["LAND_SPEED_HIGH"] / 100.0 or self.params["WPNAV_SPEED_DN"] / 100.0
        else:
            rate = self.params["LAND_SPEED"] / 100.0
        self.alt_rel_m = max(0.0, self.alt_rel_m - rate * dt_s)
        self.landed_state = LANDED_LANDING
        return self.alt_rel_m <= 0.0

    def _touchdown(self) -> None:
        self.alt_rel_m = 0.0
        self.landed = True
        self.landed_state = LANDED_ON_GROUND

    def _fly(self, dt_s: float) -> None:
        nav = self.nav
        mission_nav = self.mode == Mode.AUTO and self.mission_state == "running"
        if self.landed and nav.kind not in ("takeoff",):
            return  # on the ground without a takeoff: motors spin, nothing moves
        if self.landed and nav.kind == "takeoff" and not self.auto_armed:
            return
        if nav.kind == "takeoff":
            self.landed = False
            self.landed_state = LANDED_TAKEOFF
            self.alt_rel_m = min(nav.alt_m, self.alt_rel_m + self._speeds()[1] * dt_s)
            if self.alt_rel_m >= nav.alt_m - 0.05:
                self.landed_state = LANDED_IN_AIR
                if mission_nav:
                    self._nav_complete()
                else:
                    self.nav = _Nav(kind="hold", lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=nav.alt_m)
            return
        self.landed_state = LANDED_IN_AIR
        if nav.kind == "hold":
            self._move(nav.lat_deg, nav.lon_deg, nav.alt_m, dt_s)
        elif nav.kind == "goto":
            if nav.stage != "holding" and self._move(nav.lat_deg, nav.lon_deg, nav.alt_m, dt_s):
                nav.stage = "holding"
            if nav.stage == "holding":
                nav.timer_s += dt_s
                if mission_nav and nav.timer_s >= nav.hold_s:
                    self._nav_complete()
        elif nav.kind == "delay":
            nav.timer_s += dt_s
            if mission_nav and nav.timer_s >= nav.hold_s:
                self._nav_complete()
        elif nav.kind == "land":
            if nav.stage == "approach":
                if self._move(nav.lat_deg, nav.lon_deg, self.alt_rel_m, dt_s):
                    nav.stage = "descend"
            elif self._descend(dt_s):
                self._touchdown()
                if mission_nav:
                    self._nav_complete()
                else:
                    self._do_disarm()
        elif nav.kind == "rtl":
            self._fly_rtl(nav, dt_s, mission_nav)
        elif nav.kind == "payload":
            self._fly_payload(nav, dt_s, mission_nav)

    def _fly_rtl(self, nav: _Nav, dt_s: float, mission_nav: bool) -> None:
        if nav.stage == "climb":
            target = max(self.alt_rel_m, self.params["RTL_ALT"] / 100.0)
            nav.extra["alt_m"] = target
            nav.extra["dest"] = self._rtl_destination()
            self.alt_rel_m = min(target, self.alt_rel_m + self._speeds()[1] * dt_s)
            if self.alt_rel_m >= target - 0.05:
                nav.stage = "return"
        elif nav.stage == "return":
            lat, lon = nav.extra["dest"]
            if self._move(lat, lon, nav.extra["alt_m"], dt_s):
                nav.stage = "loiter"
        elif nav.stage == "loiter":
            nav.timer_s += dt_s
            if nav.timer_s >= self.params["RTL_LOIT_TIME"] / 1000.0:
                final_m = self.params["RTL_ALT_FINAL"] / 100.0
                nav.stage = "descend" if final_m <= 0 else "final"
        elif nav.stage == "final":
            lat, lon = nav.extra["dest"]
            self._move(lat, lon, self.params["RTL_ALT_FINAL"] / 100.0, dt_s)
        elif nav.stage == "descend" and self._descend(dt_s):
            self._touchdown()
            if mission_nav:
                self._nav_complete()
            else:
                self._do_disarm()

    def _fly_payload(self, nav: _Nav, dt_s: float, mission_nav: bool) -> None:
        if nav.stage == "approach":
            nav.extra.setdefault("start_alt_m", self.alt_rel_m)
            if self._move(nav.lat_deg, nav.lon_deg, self.alt_rel_m, dt_s):
                nav.stage = "descend"
        elif nav.stage == "descend":
            max_descent = nav.extra["max_descent_m"]
            start_alt = nav.extra["start_alt_m"]
            rate = self.params["PLDP_SPEED_DN"] / 100.0 or self.params["LAND_SPEED"] / 100.0
            self.alt_rel_m = max(0.0, self.alt_rel_m - rate * dt_s)
            if self.alt_rel_m <= 0.0:
                self.gripper_release()  # touchdown detected (thrust drops): release
                nav.stage = "ascend"
            elif max_descent > 0 and start_alt - self.alt_rel_m >= max_descent:
                self._text("PayloadPlace: Reached maximum descent", 4)
                nav.stage = "ascend"
        elif nav.stage == "ascend":
            if self._move(nav.lat_deg, nav.lon_deg, nav.extra["start_alt_m"], dt_s, vertical_first=True):
                if mission_nav:
                    self._nav_complete()
                else:
                    self.nav = _Nav(kind="hold", lat_deg=self.lat_deg, lon_deg=self.lon_deg, alt_m=self.alt_rel_m)
