"""One vehicle (one MAVLink system id) seen through a connection: state, commands, params, missions.

``VehicleLink`` tracks what the vehicle reports (heartbeat, position, battery, mission progress …),
watches its heartbeat (no HEARTBEAT for ``link_timeout_s`` -> "link_lost" event; the next heartbeat
-> "link_restored"), optionally sends our GCS HEARTBEAT at 1 Hz (ArduPilot's GCS failsafe counts
on it), and offers request/reply operations that register their waiter before sending.

Long-lived work happens in :meth:`run`, which the owner runs in its TaskGroup (or use
:meth:`attached` as an async context manager).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

from controller.vehicle.dialect import copter_mode_name, copter_mode_number, mavlink2
from controller.vehicle.errors import (
    CommandRejected,
    LinkLost,
    NotReady,
    ParamReadFailed,
    ParamSetFailed,
    PreArmFailed,
)
from controller.vehicle.mission_protocol import (
    MissionDownloader,
    MissionTiming,
    MissionUploader,
    to_float32,
    verify_items,
)
from controller.vehicle.router import MessageRouter
from controller.vehicle.telemetry import LandedState, Telemetry, VehicleEvent
from flight_plans.mission_item import MissionItem, MissionType

log = logging.getLogger(__name__)

MAV_RESULT_ACCEPTED = mavlink2.MAV_RESULT_ACCEPTED
MAV_RESULT_IN_PROGRESS = mavlink2.MAV_RESULT_IN_PROGRESS
_MISSION_MESSAGES = ("MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK", "MISSION_COUNT",
                     "MISSION_ITEM", "MISSION_ITEM_INT")
# EKF_STATUS_REPORT flags that must all be set before flying a mission: attitude, horizontal and
# vertical velocity, absolute horizontal and vertical position (ArduPilot's own prearm uses these).
EKF_REQUIRED_FLAGS = (mavlink2.EKF_ATTITUDE | mavlink2.EKF_VELOCITY_HORIZ | mavlink2.EKF_VELOCITY_VERT
                      | mavlink2.EKF_POS_HORIZ_ABS | mavlink2.EKF_POS_VERT_ABS)


class MessageSender(Protocol):
    """What a VehicleLink needs from a transport: queue one message for sending."""

    def send(self, msg: Any) -> None: ...


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).rstrip("\x00")


class VehicleLink:
    """The controller's view of vehicle ``sysid`` on one connection.

    Parameters
    ----------
    sender: transport to send through (``MavlinkConnection``).
    router: router fed by that transport.
    sysid: the vehicle's MAVLink system id; compid its autopilot component (1).
    own_sysid, own_compid: our ids, used to recognise replies addressed to us.
    link_timeout_s: heartbeat silence that counts as link lost (3 s per issue 4).
    send_gcs_heartbeat: send our HEARTBEAT at ``heartbeat_period_s`` while :meth:`run` runs; turn off
        when a hub already sends one for the whole connection.
    clock: monotonic seconds (injected for tests).
    """

    def __init__(self, *, sender: MessageSender, router: MessageRouter, sysid: int, compid: int = 1,
                 own_sysid: int = 255, own_compid: int = 190, link_timeout_s: float = 3.0,
                 send_gcs_heartbeat: bool = True, heartbeat_period_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = sender
        self.router = router
        self.sysid = sysid
        self.compid = compid
        self.own_sysid = own_sysid
        self.own_compid = own_compid
        self.link_timeout_s = link_timeout_s
        self.send_gcs_heartbeat = send_gcs_heartbeat
        self.heartbeat_period_s = heartbeat_period_s
        self.clock = clock
        # Tracked state (derived only from what the vehicle says).
        self.last_heartbeat_s: float | None = None
        self.link_ok = False
        self.custom_mode: int | None = None
        self.armed = False
        self.system_status: int | None = None
        self.landed_state = LandedState.UNDEFINED
        self.lat_deg: float | None = None
        self.lon_deg: float | None = None
        self.alt_amsl_m: float | None = None
        self.alt_rel_m: float | None = None
        self.heading_deg: float | None = None
        self.groundspeed_m_s: float | None = None
        self.battery_voltage_v: float | None = None
        self.battery_remaining_pct: float | None = None
        self.battery_current_a: float | None = None
        self.gps_fix_type = 0
        self.satellites_visible: int | None = None
        self.ekf_flags: int | None = None
        self.home: tuple[float, float, float] | None = None  # lat_deg, lon_deg, alt_amsl_m
        self.mission_seq: int | None = None
        self.mission_total: int | None = None
        # MISSION_CURRENT.mission_state (MAVLink 2 extension; MISSION_STATE enum): ArduCopter resets the
        # current item to 0 when it disarms, so "complete" is the only trace of a finished mission.
        self.mission_state: int | None = None
        self.last_reached_seq: int | None = None
        self.statustexts: collections.deque[tuple[float, int, str]] = collections.deque(maxlen=200)
        self._state_waiters: list[asyncio.Future[None]] = []
        self._telemetry_queues: list[asyncio.Queue[Telemetry]] = []
        self._event_queues: list[asyncio.Queue[VehicleEvent]] = []
        self._transfer_lock = asyncio.Lock()
        self._heartbeat_seen = asyncio.Event()
        router.add_listener(self._on_message)

    # --- identity / filters ---------------------------------------------------------------------------

    def _from_vehicle(self, msg: Any) -> bool:
        return msg.get_srcSystem() == self.sysid

    def _to_us(self, msg: Any) -> bool:
        target = getattr(msg, "target_system", 0)
        return self._from_vehicle(msg) and target in (0, self.own_sysid)

    @property
    def mode(self) -> str:
        """ArduCopter mode name ("UNKNOWN" before the first heartbeat)."""
        return "UNKNOWN" if self.custom_mode is None else copter_mode_name(self.custom_mode)

    # --- incoming -------------------------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        if not self._from_vehicle(msg):
            return
        kind = msg.get_type()
        now = self.clock()
        telemetry_changed = True
        if kind == "HEARTBEAT":
            if msg.get_srcComponent() != self.compid or msg.type == mavlink2.MAV_TYPE_GCS:
                return  # a camera/gimbal of the same system is not the autopilot
            if self.last_heartbeat_s is not None and not self.link_ok:
                self._emit("link_restored", silent_s=round(now - self.last_heartbeat_s, 3))
            self.last_heartbeat_s = now
            self.link_ok = True
            self._heartbeat_seen.set()
            armed = bool(msg.base_mode & mavlink2.MAV_MODE_FLAG_SAFETY_ARMED)
            if self.custom_mode is not None and msg.custom_mode != self.custom_mode:
                self._emit("mode_changed", mode=copter_mode_name(msg.custom_mode), previous=self.mode)
            if armed != self.armed and self.custom_mode is not None:
                self._emit("armed_changed", armed=armed)
            self.custom_mode = int(msg.custom_mode)
            self.armed = armed
            self.system_status = int(msg.system_status)
        elif kind == "GLOBAL_POSITION_INT":
            self.lat_deg, self.lon_deg = msg.lat / 1e7, msg.lon / 1e7
            self.alt_amsl_m, self.alt_rel_m = msg.alt / 1000.0, msg.relative_alt / 1000.0
            if msg.hdg != 65535:
                self.heading_deg = msg.hdg / 100.0
            self.groundspeed_m_s = (msg.vx ** 2 + msg.vy ** 2) ** 0.5 / 100.0
        elif kind == "VFR_HUD":
            self.groundspeed_m_s = float(msg.groundspeed)
        elif kind == "SYS_STATUS":
            if msg.voltage_battery != 65535:
                self.battery_voltage_v = msg.voltage_battery / 1000.0
            if msg.battery_remaining >= 0:
                self.battery_remaining_pct = float(msg.battery_remaining)
            if msg.current_battery >= 0:
                self.battery_current_a = msg.current_battery / 100.0
        elif kind == "BATTERY_STATUS":
            if msg.battery_remaining >= 0:
                self.battery_remaining_pct = float(msg.battery_remaining)
        elif kind == "GPS_RAW_INT":
            self.gps_fix_type = int(msg.fix_type)
            self.satellites_visible = None if msg.satellites_visible == 255 else int(msg.satellites_visible)
        elif kind == "EXTENDED_SYS_STATE":
            self.landed_state = LandedState(msg.landed_state) if msg.landed_state in LandedState._value2member_map_ else LandedState.UNDEFINED
        elif kind == "EKF_STATUS_REPORT":
            self.ekf_flags = int(msg.flags)
            telemetry_changed = False
        elif kind == "HOME_POSITION":
            self.home = (msg.latitude / 1e7, msg.longitude / 1e7, msg.altitude / 1000.0)
            telemetry_changed = False
        elif kind == "MISSION_CURRENT":
            if (msg.seq, msg.total) != (self.mission_seq, self.mission_total):
                self._emit("mission_current", seq=int(msg.seq), total=int(msg.total))
            self.mission_seq, self.mission_total = int(msg.seq), int(msg.total)
            state = getattr(msg, "mission_state", 0)
            self.mission_state = int(state) if state else None  # 0 = MISSION_STATE_UNKNOWN / MAVLink 1
        elif kind == "MISSION_ITEM_REACHED":
            if msg.seq != self.last_reached_seq:
                self._emit("mission_item_reached", seq=int(msg.seq))
            self.last_reached_seq = int(msg.seq)
            telemetry_changed = False
        elif kind == "STATUSTEXT":
            text = _text(msg.text)
            self.statustexts.append((now, int(msg.severity), text))
            self._emit("statustext", severity=int(msg.severity), text=text)
            telemetry_changed = False
        else:
            return
        self._notify_state()
        if telemetry_changed and self._telemetry_queues:
            snap = self.snapshot()
            for q in self._telemetry_queues:
                if q.full():
                    q.get_nowait()  # keep the newest: consoles want current state, not a backlog
                q.put_nowait(snap)

    def _emit(self, kind: str, **data: Any) -> None:
        event = VehicleEvent(kind=kind, sysid=self.sysid, time_unix_s=time.time(), data=data)
        for q in self._event_queues:
            if q.full():
                q.get_nowait()
            q.put_nowait(event)

    def _notify_state(self) -> None:
        waiters, self._state_waiters = self._state_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # --- snapshots, streams ---------------------------------------------------------------------------

    def snapshot(self) -> Telemetry:
        """Return the current :class:`Telemetry` snapshot."""
        return Telemetry(
            sysid=self.sysid, time_unix_s=time.time(), lat_deg=self.lat_deg, lon_deg=self.lon_deg,
            alt_amsl_m=self.alt_amsl_m, alt_rel_m=self.alt_rel_m, groundspeed_m_s=self.groundspeed_m_s,
            heading_deg=self.heading_deg, battery_voltage_v=self.battery_voltage_v,
            battery_remaining_pct=self.battery_remaining_pct, battery_current_a=self.battery_current_a,
            mode=self.mode, armed=self.armed, landed_state=self.landed_state, mission_seq=self.mission_seq,
            mission_total=self.mission_total, gps_fix_type=self.gps_fix_type,
            satellites_visible=self.satellites_visible, link_ok=self.link_ok)

    async def telemetry(self, *, min_period_s: float = 0.0, maxlen: int = 16) -> AsyncIterator[Telemetry]:
        """Yield snapshots as the vehicle reports, at most one per ``min_period_s`` seconds.

        Slow consumers see the newest state (older snapshots are dropped). The subscription is
        removed when the generator closes: wrap in ``contextlib.aclosing`` when breaking out early.
        """
        q: asyncio.Queue[Telemetry] = asyncio.Queue(maxsize=maxlen)
        self._telemetry_queues.append(q)
        last_s = float("-inf")
        try:
            while True:
                snap = await q.get()
                if self.clock() - last_s >= min_period_s:
                    last_s = self.clock()
                    yield snap
        finally:
            self._telemetry_queues.remove(q)

    async def events(self, *, maxlen: int = 256) -> AsyncIterator[VehicleEvent]:
        """Yield :class:`VehicleEvent` s (statustext, mission progress, mode, link lost/restored …)."""
        q: asyncio.Queue[VehicleEvent] = asyncio.Queue(maxsize=maxlen)
        self._event_queues.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._event_queues.remove(q)

    @contextlib.contextmanager
    def event_queue(self, *, maxlen: int = 256):  # noqa: ANN201
        """Context manager giving a queue of events from now on (register before acting)."""
        q: asyncio.Queue[VehicleEvent] = asyncio.Queue(maxsize=maxlen)
        self._event_queues.append(q)
        try:
            yield q
        finally:
            self._event_queues.remove(q)

    async def wait_until(self, predicate: Callable[[VehicleLink], bool], *, timeout_s: float,
                         what: str) -> None:
        """Wait until ``predicate(self)`` holds; :class:`NotReady` after ``timeout_s`` seconds."""
        try:
            async with asyncio.timeout(timeout_s):
                while not predicate(self):
                    fut = asyncio.get_running_loop().create_future()
                    self._state_waiters.append(fut)
                    await fut
        except TimeoutError:
            raise NotReady(what, timeout_s, {"mode": self.mode, "armed": self.armed,
                                             "link_ok": self.link_ok}) from None

    async def wait_change(self, *, timeout_s: float) -> bool:
        """Wait for the next state update from the vehicle; False when none came in ``timeout_s`` s."""
        fut = asyncio.get_running_loop().create_future()
        self._state_waiters.append(fut)
        try:
            async with asyncio.timeout(timeout_s):
                await fut
            return True
        except TimeoutError:
            return False

    async def wait_heartbeat(self, *, timeout_s: float = 10.0) -> None:
        """Wait for the first vehicle HEARTBEAT; :class:`NotReady` on timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._heartbeat_seen.wait()
        except TimeoutError:
            raise NotReady("vehicle heartbeat", timeout_s) from None

    # --- long-lived tasks -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Send GCS heartbeats (if enabled) and watch the vehicle's heartbeat until cancelled."""
        async with asyncio.TaskGroup() as tg:
            if self.send_gcs_heartbeat:
                tg.create_task(send_gcs_heartbeats(self.sender, period_s=self.heartbeat_period_s))
            tg.create_task(self._watchdog())

    @contextlib.asynccontextmanager
    async def attached(self) -> AsyncIterator[VehicleLink]:
        """Run :meth:`run` in the background for the duration of the block."""
        task = asyncio.create_task(self.run(), name=f"vehicle-link-{self.sysid}")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.router.remove_listener(self._on_message)

    async def _watchdog(self) -> None:
        # Check again exactly when the current heartbeat would go stale; a heartbeat arriving in
        # between just moves the next check.
        while True:
            if self.last_heartbeat_s is None:
                await self._heartbeat_seen.wait()
                continue
            silent_s = self.clock() - self.last_heartbeat_s
            if silent_s >= self.link_timeout_s:
                if self.link_ok:
                    self.link_ok = False
                    log.warning("vehicle %s: link lost (%.1f s without heartbeat)", self.sysid, silent_s)
                    self._emit("link_lost", silent_s=round(silent_s, 3))
                    self._notify_state()
                fut = asyncio.get_running_loop().create_future()
                self._state_waiters.append(fut)
                await fut  # any message; the heartbeat handler flips link_ok back
            else:
                await asyncio.sleep(self.link_timeout_s - silent_s)

    def require_link(self) -> None:
        """Raise :class:`LinkLost` unless the vehicle's heartbeat is current."""
        if not self.link_ok:
            silent = float("inf") if self.last_heartbeat_s is None else self.clock() - self.last_heartbeat_s
            raise LinkLost(self.sysid, silent)

    # --- streams request ------------------------------------------------------------------------------

    def request_streams(self, *, rate_hz: int = 4) -> None:
        """Ask the vehicle to stream all telemetry at ``rate_hz`` (REQUEST_DATA_STREAM, no reply)."""
        self.sender.send(mavlink2.MAVLink_request_data_stream_message(
            self.sysid, self.compid, mavlink2.MAV_DATA_STREAM_ALL, rate_hz, 1))

    # --- commands -------------------------------------------------------------------------------------

    async def command_long(self, command: int, params: Sequence[float] = (), *, timeout_s: float = 1.5,
                           retries: int = 3, in_progress_timeout_s: float = 30.0) -> Any:
        """Send COMMAND_LONG and return its ACCEPTED COMMAND_ACK.

        Resends (with ``confirmation`` incremented) after ``timeout_s`` seconds without an ack, up to
        ``retries`` times. IN_PROGRESS acks extend the wait up to ``in_progress_timeout_s``.
        Raises :class:`CommandRejected` (result None when never acknowledged).
        """
        p = list(params) + [0.0] * (7 - len(params))
        with self.router.subscribe("COMMAND_ACK", lambda m: self._to_us(m) and m.command == command) as acks:
            for confirmation in range(retries + 1):
                self.sender.send(mavlink2.MAVLink_command_long_message(
                    self.sysid, self.compid, command, confirmation, *p))
                deadline_s = timeout_s
                while True:
                    try:
                        ack = await acks.get(deadline_s)
                    except TimeoutError:
                        break
                    if ack.result == MAV_RESULT_IN_PROGRESS:
                        deadline_s = in_progress_timeout_s
                        continue
                    if ack.result != MAV_RESULT_ACCEPTED:
                        raise CommandRejected(command, int(ack.result))
                    return ack
        raise CommandRejected(command, None)

    async def set_mode(self, name: str, *, timeout_s: float = 5.0) -> None:
        """Switch to ArduCopter mode ``name`` (e.g. "AUTO", "RTL") and wait for the heartbeat to show it."""
        number = copter_mode_number(name)
        await self.command_long(mavlink2.MAV_CMD_DO_SET_MODE,
                                [mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number])
        await self.wait_until(lambda v: v.custom_mode == number, timeout_s=timeout_s, what=f"mode {name}")

    async def arm(self, *, confirm_timeout_s: float | None = None) -> None:
        """Arm; on refusal raise :class:`PreArmFailed` with the vehicle's PreArm/Arm texts.

        ArduPilot answers ACCEPTED only once armed, so the ack is the confirmation; pass
        ``confirm_timeout_s`` to also wait for a heartbeat showing it. (Waiting by default would be
        wrong: landed and idle, ArduPilot disarms again after DISARM_DELAY, which at SITL speed-ups
        can be shorter than a heartbeat period.)
        """
        since = self.clock()
        try:
            await self.command_long(mavlink2.MAV_CMD_COMPONENT_ARM_DISARM, [1])
        except CommandRejected as exc:
            if exc.result is None:
                raise
            # ArduPilot sends the reasons as STATUSTEXT right around the failed ack.
            await asyncio.sleep(0)  # let already-queued texts be dispatched
            reasons = self.prearm_reasons(since_s=since - 1.0)
            raise PreArmFailed(reasons or [f"arming refused (MAV_RESULT {exc.result})"]) from exc
        if confirm_timeout_s is not None:
            await self.wait_until(lambda v: v.armed, timeout_s=confirm_timeout_s, what="armed")

    async def disarm(self, *, timeout_s: float = 10.0) -> None:
        """Disarm (the vehicle refuses in flight) and wait for the heartbeat to show it."""
        await self.command_long(mavlink2.MAV_CMD_COMPONENT_ARM_DISARM, [0])
        await self.wait_until(lambda v: not v.armed, timeout_s=timeout_s, what="disarmed")

    async def start_mission(self, *, first_seq: int = 0, last_seq: int = 0) -> None:
        """Send MAV_CMD_MISSION_START (0, 0 = the whole mission)."""
        await self.command_long(mavlink2.MAV_CMD_MISSION_START, [first_seq, last_seq])

    async def return_to_launch(self) -> None:
        """Switch to RTL."""
        await self.set_mode("RTL")

    async def land(self) -> None:
        """Switch to LAND (descend where it is)."""
        await self.set_mode("LAND")

    async def set_current_item(self, seq: int, *, timeout_s: float = 3.0) -> None:
        """Make ``seq`` the current mission item (MISSION_SET_CURRENT; confirmed by MISSION_CURRENT)."""
        for _attempt in range(3):
            async with self.router.expect("MISSION_CURRENT", lambda m: self._from_vehicle(m) and m.seq == seq,
                                          timeout_s=timeout_s / 3) as reply:
                self.sender.send(mavlink2.MAVLink_mission_set_current_message(self.sysid, self.compid, seq))
                try:
                    await reply
                    return
                except TimeoutError:
                    continue
        raise NotReady(f"mission current = {seq}", timeout_s, {"mission_seq": self.mission_seq})

    async def request_message(self, message_id: int) -> None:
        """Ask the vehicle to send message ``message_id`` once (MAV_CMD_REQUEST_MESSAGE, acked)."""
        await self.command_long(mavlink2.MAV_CMD_REQUEST_MESSAGE, [message_id])

    # --- parameters -----------------------------------------------------------------------------------

    async def get_param(self, name: str, *, timeout_s: float = 1.0, retries: int = 3) -> float:
        """Read parameter ``name``; :class:`ParamReadFailed` when the vehicle never answers."""
        for _attempt in range(retries + 1):
            async with self.router.expect("PARAM_VALUE", lambda m: self._from_vehicle(m) and m.param_id == name,
                                          timeout_s=timeout_s) as reply:
                self.sender.send(mavlink2.MAVLink_param_request_read_message(
                    self.sysid, self.compid, name.encode("ascii"), -1))
                try:
                    return float((await reply).param_value)
                except TimeoutError:
                    continue
        raise ParamReadFailed(name, retries + 1)

    async def set_param(self, name: str, value: float, *, timeout_s: float = 1.0, retries: int = 3) -> float:
        """Set ``name`` to ``value`` and verify the echoed PARAM_VALUE (float32 compare).

        Returns the echoed value. Raises :class:`ParamSetFailed` (got = last echo, or None when the
        vehicle never answered, e.g. an unknown parameter name).
        """
        got: float | None = None
        for _attempt in range(retries + 1):
            async with self.router.expect("PARAM_VALUE", lambda m: self._from_vehicle(m) and m.param_id == name,
                                          timeout_s=timeout_s) as reply:
                self.sender.send(mavlink2.MAVLink_param_set_message(
                    self.sysid, self.compid, name.encode("ascii"), float(value),
                    mavlink2.MAV_PARAM_TYPE_REAL32))
                try:
                    got = float((await reply).param_value)
                except TimeoutError:
                    continue
                if to_float32(got) == to_float32(value):
                    return got
        raise ParamSetFailed(name, value, got)

    async def ensure_params(self, wanted: Mapping[str, float], *, timeout_s: float = 1.0,
                            retries: int = 3) -> dict[str, float]:
        """Make every parameter in ``wanted`` hold its value; return {name: value now on the vehicle}.

        Reads first and writes only what differs (every write costs the autopilot a flash write).
        """
        result: dict[str, float] = {}
        for name, value in wanted.items():
            try:
                current = await self.get_param(name, timeout_s=timeout_s, retries=retries)
            except ParamReadFailed:
                raise ParamSetFailed(name, value, None) from None
            if to_float32(current) == to_float32(value):
                result[name] = current
            else:
                result[name] = await self.set_param(name, value, timeout_s=timeout_s, retries=retries)
        return result

    # --- missions -------------------------------------------------------------------------------------

    async def _run_transfer(self, machine: MissionUploader | MissionDownloader) -> None:
        async with self._transfer_lock:  # the protocol allows one transfer at a time per vehicle
            with self.router.subscribe(_MISSION_MESSAGES, self._to_us) as incoming:
                for msg in machine.start(now_s=self.clock()):
                    self.sender.send(msg)
                while not machine.finished:
                    wait_s = max(0.0, (machine.deadline_s or self.clock()) - self.clock())
                    try:
                        msg = await incoming.get(wait_s)
                    except TimeoutError:
                        out = []
                    else:
                        out = machine.on_message(msg, now_s=self.clock())
                    out += machine.on_tick(self.clock())
                    for reply in out:
                        self.sender.send(reply)
        if machine.failure is not None:
            raise machine.failure

    async def upload_items(self, items: Sequence[MissionItem], *, mission_type: MissionType,
                           timing: MissionTiming = MissionTiming()) -> None:
        """Upload ``items`` of ``mission_type``; raises MissionAckError / MissionTimeout."""
        await self._run_transfer(MissionUploader(items, mission_type=mission_type, target_system=self.sysid,
                                                 target_component=self.compid, timing=timing))

    async def download_items(self, *, mission_type: MissionType,
                             timing: MissionTiming = MissionTiming()) -> list[MissionItem]:
        """Download the vehicle's ``mission_type`` items."""
        machine = MissionDownloader(mission_type=mission_type, target_system=self.sysid,
                                    target_component=self.compid, timing=timing)
        await self._run_transfer(machine)
        return machine.items

    async def upload_and_verify(self, items: Sequence[MissionItem], *, mission_type: MissionType,
                                timing: MissionTiming = MissionTiming()) -> list[MissionItem]:
        """Upload, read back and compare item by item; returns the read-back list.

        Raises :class:`MissionMismatch` listing every difference (see ``compare_items``).
        """
        await self.upload_items(items, mission_type=mission_type, timing=timing)
        back = await self.download_items(mission_type=mission_type, timing=timing)
        verify_items(items, back, mission_type=mission_type)
        return back

    # --- pre-flight -----------------------------------------------------------------------------------

    def prearm_reasons(self, *, since_s: float = float("-inf")) -> list[str]:
        """PreArm/Arm STATUSTEXTs received since monotonic ``since_s``, oldest first, deduplicated."""
        reasons: list[str] = []
        for t, _severity, text in self.statustexts:
            if t >= since_s and (text.startswith("PreArm:") or text.startswith("Arm:")) and text not in reasons:
                reasons.append(text)
        return reasons

    def readiness_problems(self, *, require_ekf_report: bool = False, prearm_window_s: float = 5.0) -> list[str]:
        """What still stops the vehicle from flying: GPS fix, EKF, home, recent PreArm texts."""
        problems: list[str] = []
        if not self.link_ok:
            problems.append("no vehicle heartbeat")
        if self.gps_fix_type < 3:
            problems.append(f"no GPS 3D fix (fix_type {self.gps_fix_type})")
        if self.ekf_flags is not None:
            if self.ekf_flags & EKF_REQUIRED_FLAGS != EKF_REQUIRED_FLAGS or self.ekf_flags & mavlink2.EKF_UNINITIALIZED:
                problems.append(f"EKF not ready (flags 0x{self.ekf_flags:x})")
        elif require_ekf_report:
            problems.append("no EKF_STATUS_REPORT")
        if self.home is None:
            problems.append("no HOME_POSITION")
        problems.extend(self.prearm_reasons(since_s=self.clock() - prearm_window_s))
        return problems

    async def wait_ready(self, *, timeout_s: float = 60.0, require_ekf_report: bool = False) -> None:
        """Wait for GPS 3D fix, EKF ok and a home position; :class:`PreArmFailed` with the reasons.

        Without EKF_STATUS_REPORT the EKF counts as ready when no PreArm text arrived in the last 5 s
        (ArduPilot repeats its PreArm failures every 30 s while disarmed, and at arming).
        """
        if self.home is None:
            self.sender.send(mavlink2.MAVLink_command_long_message(
                self.sysid, self.compid, mavlink2.MAV_CMD_REQUEST_MESSAGE, 0,
                mavlink2.MAVLINK_MSG_ID_HOME_POSITION, 0, 0, 0, 0, 0, 0))
        try:
            await self.wait_until(lambda v: not v.readiness_problems(require_ekf_report=require_ekf_report),
                                  timeout_s=timeout_s, what="ready to fly")
        except NotReady:
            raise PreArmFailed(self.readiness_problems(require_ekf_report=require_ekf_report)) from None

    def check_battery(self, *, energy_needed_wh: float, capacity_wh: float,
                      reserve_fraction: float = 0.25) -> None:
        """Raise :class:`PreArmFailed` unless the charge covers ``energy_needed_wh`` plus the reserve.

        Usable energy = remaining% x ``capacity_wh``; it must be at least need x (1 + reserve).
        """
        if self.battery_remaining_pct is None:
            raise PreArmFailed(["battery: no charge reported"])
        available_wh = capacity_wh * self.battery_remaining_pct / 100.0
        required_wh = energy_needed_wh * (1.0 + reserve_fraction)
        if available_wh < required_wh:
            raise PreArmFailed([f"battery: {available_wh:.0f} Wh available, {required_wh:.0f} Wh needed "
                                f"({energy_needed_wh:.0f} Wh + {reserve_fraction:.0%} reserve)"])


async def send_gcs_heartbeats(sender: MessageSender, *, period_s: float = 1.0) -> None:
    """Send our GCS HEARTBEAT every ``period_s`` seconds until cancelled."""
    while True:
        sender.send(mavlink2.MAVLink_heartbeat_message(
            mavlink2.MAV_TYPE_GCS, mavlink2.MAV_AUTOPILOT_INVALID, 0, 0, mavlink2.MAV_STATE_ACTIVE, 3))
        await asyncio.sleep(period_s)


def is_vehicle_heartbeat(msg: Any) -> bool:
    """True for an autopilot's HEARTBEAT (not a GCS, gimbal, ADS-B or companion computer)."""
    return (msg.get_type() == "HEARTBEAT" and msg.autopilot != mavlink2.MAV_AUTOPILOT_INVALID
            and msg.type not in (mavlink2.MAV_TYPE_GCS, mavlink2.MAV_TYPE_GIMBAL, mavlink2.MAV_TYPE_ADSB,
                                 mavlink2.MAV_TYPE_ONBOARD_CONTROLLER))

