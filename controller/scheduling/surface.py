"""Put parcels on ferry and bus runs when they do not fly.

A parcel can ride a line that calls at its origin service point and later at its destination, on
the outbound run or on the return run (lines come back through their calls in reverse after a
turnaround: `SchedulerConfig.ferry_turnaround_s` / `bus_turnaround_s`; the return run of the run
leaving the first call at T leaves the last call at T + last offset + turnaround, with the outbound
stop-to-stop times mirrored). Each direction of a run has its own `capacity_boxes`. Parcels travel in standard turnover boxes, one box stream per (run, origin, destination); a run
carries at most `capacity_boxes` boxes in total (counted over the whole run, which is conservative
for boxes unloaded part-way). On ferries a parcel too big for a box may go as loose freight taking
ceil(volume / box volume) or ceil(weight / box weight) box slots, whichever is more, up to
`SchedulerConfig.ferry_loose_max_kg` / `ferry_loose_max_l`; on buses a parcel must fit the locker's
L compartment (`bus_compartment_max_kg` / `bus_compartment_max_l`) and shares boxes like any other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from controller.scheduling.model import Parcel, SchedulerConfig, SurfaceCall, SurfaceLeg, SurfaceLine

Direction = Literal["outbound", "return"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectedLine:
    """One direction of a line: its calls in travel order with offsets from the run's first departure (s)."""

    line: SurfaceLine
    direction: Direction
    calls: tuple[SurfaceCall, ...]


def directed_lines(lines: tuple[SurfaceLine, ...], config: SchedulerConfig) -> list[DirectedLine]:
    """Return every line outbound and, unless its mode's turnaround is None, on the way back."""
    out = []
    for line in lines:
        out.append(DirectedLine(line=line, direction="outbound", calls=line.calls))
        turn = config.ferry_turnaround_s if line.mode == "ferry" else config.bus_turnaround_s
        if turn is None or len(line.calls) < 2:
            continue
        last = line.calls[-1].offset_s
        back = tuple(SurfaceCall(service_point_id=c.service_point_id, offset_s=last + turn + (last - c.offset_s))
                     for c in reversed(line.calls))
        out.append(DirectedLine(line=line, direction="return", calls=back))
    return out


@dataclass(kw_only=True, eq=False)
class _BoxStream:
    line: SurfaceLine
    direction: Direction
    run: int
    origin: str
    destination: str
    depart_at: datetime
    arrive_at: datetime
    connecting: bool  # a bus leg of a bus + drone journey (reported apart from surface-only legs)
    boxes: list[list[float]] = field(default_factory=list)  # [kg, litres] used per shared box
    loose_slots: int = 0  # box slots taken by loose freight (ferry only)
    items: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # id -> (kg, l, loose slots)
    reasons: dict[str, str] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)

    @property
    def slots(self) -> int:
        return len(self.boxes) + self.loose_slots


@dataclass(frozen=True, kw_only=True, slots=True)
class SurfaceOption:
    """Where a parcel would go by surface: line, run departure at its origin and arrival (UTC)."""

    line_id: str
    mode: str
    run: int
    direction: Direction
    depart_at: datetime
    arrive_at: datetime


class SurfaceRouter:
    """Assign parcels to the next suitable ferry/bus departure with room."""

    def __init__(self, lines: tuple[SurfaceLine, ...], *, horizon_end_at: datetime,
                 config: SchedulerConfig) -> None:
        self.lines = lines
        self.directed = directed_lines(lines, config)
        self.horizon_end_at = horizon_end_at
        self.config = config
        self._capacity = {ln.line_id: ln.capacity_boxes for ln in lines}
        self._boxes_used: dict[tuple[str, int, str], int] = {}  # (line, run, direction) -> boxes
        self._streams: dict[tuple[str, int, str, str, str, bool], _BoxStream] = {}
        self._where: dict[str, tuple[str, int, str, str, str, bool]] = {}  # parcel id -> its stream
        self._route_cache: dict[tuple[str, str], list[tuple[DirectedLine, float, float]]] = {}

    def _routes(self, origin: str, destination: str) -> list[tuple[DirectedLine, float, float]]:
        # Asked once per parcel and option search; the lines never change, so remember the answer.
        hit = self._route_cache.get((origin, destination))
        if hit is not None:
            return hit
        out: list[tuple[DirectedLine, float, float]] = []
        for dl in self.directed:
            for i, call in enumerate(dl.calls):
                if call.service_point_id != origin:
                    continue
                for later in dl.calls[i + 1:]:
                    if later.service_point_id == destination:
                        out.append((dl, call.offset_s, later.offset_s))
                        break
        self._route_cache[origin, destination] = out
        return out

    def has_route(self, origin: str, destination: str) -> bool:
        """Return whether one ferry/bus line (either direction) calls at `origin` and later at `destination`."""
        return bool(self._routes(origin, destination))

    def slots_for(self, parcel: Parcel, mode: str) -> int | None:
        """Return the box slots `parcel` takes on `mode` (0: shares a standard box), None if it cannot go."""
        c = self.config
        if mode == "bus" and (parcel.weight_kg > c.bus_compartment_max_kg
                              or parcel.volume_l > c.bus_compartment_max_l):
            return None
        if parcel.weight_kg <= c.surface_box_max_kg and parcel.volume_l <= c.surface_box_volume_l:
            return 0
        if mode == "ferry" and parcel.weight_kg <= c.ferry_loose_max_kg and parcel.volume_l <= c.ferry_loose_max_l:
            return max(math.ceil(parcel.volume_l / c.surface_box_volume_l - 1e-9),
                       math.ceil(parcel.weight_kg / c.surface_box_max_kg - 1e-9))
        return None

    def _fits(self, stream: _BoxStream | None, key: tuple[str, int, str], parcel: Parcel, loose: int) -> bool:
        free = self._capacity[key[0]] - self._boxes_used.get(key, 0)
        if loose:
            return free >= loose
        if stream is not None and stream.boxes:
            kg, litres = stream.boxes[-1]
            if (kg + parcel.weight_kg <= self.config.surface_box_max_kg
                    and litres + parcel.volume_l <= self.config.surface_box_volume_l):
                return True
        return free >= 1

    def options(self, parcel: Parcel, earliest_at: datetime, *, modes: tuple[str, ...] = ("ferry", "bus"),
                connecting: bool = False) -> list[SurfaceOption]:
        """Return, per line of `modes`, the first run leaving the origin at/after `earliest_at` with room."""
        out = []
        for dl, off_o, off_d in self._routes(parcel.origin, parcel.destination):
            line = dl.line
            if line.mode not in modes:
                continue
            loose = self.slots_for(parcel, line.mode)
            if loose is None:
                continue
            for run, start in enumerate(line.departures):
                depart = start + timedelta(seconds=off_o)
                if depart < earliest_at:
                    continue
                if depart > self.horizon_end_at:
                    break
                key = (line.line_id, run, dl.direction)
                stream = self._streams.get((line.line_id, run, dl.direction, parcel.origin, parcel.destination,
                                            connecting))
                if self._fits(stream, key, parcel, loose):
                    out.append(SurfaceOption(line_id=line.line_id, mode=line.mode, run=run, direction=dl.direction,
                                             depart_at=depart, arrive_at=start + timedelta(seconds=off_d)))
                    break
        return sorted(out, key=lambda o: (o.arrive_at, o.depart_at, o.line_id))

    def latest_departure(self, origin: str, destination: str, arrive_by: datetime, *,
                         modes: tuple[str, ...] = ("bus",)) -> datetime | None:
        """Return the latest timetabled departure origin -> destination arriving by `arrive_by` (room ignored)."""
        best = None
        for dl, off_o, off_d in self._routes(origin, destination):
            if dl.line.mode not in modes:
                continue
            for start in dl.line.departures:
                if start + timedelta(seconds=off_d) <= arrive_by:
                    depart = start + timedelta(seconds=off_o)
                    best = depart if best is None or depart > best else best
        return best

    def best_option(self, parcel: Parcel, earliest_at: datetime, *, modes: tuple[str, ...] = ("ferry", "bus"),
                    connecting: bool = False) -> SurfaceOption | None:
        """Return the earliest-arriving option (on-time ones first for deadline parcels), or None."""
        opts = self.options(parcel, earliest_at, modes=modes, connecting=connecting)
        if not opts:
            return None
        if parcel.due_at is not None:
            on_time = [o for o in opts if o.arrive_at <= parcel.due_at]
            if on_time:
                return on_time[0]
        return opts[0]

    def on_time_runs(self, parcel: Parcel, earliest_at: datetime) -> set[tuple[str, int, str]]:
        """Return (line id, run, direction) of every run that would deliver `parcel` by its deadline,
        room or not (empty without a deadline)."""
        out: set[tuple[str, int, str]] = set()
        if parcel.due_at is None:
            return out
        for dl, off_o, off_d in self._routes(parcel.origin, parcel.destination):
            if self.slots_for(parcel, dl.line.mode) is None:
                continue
            for run, start in enumerate(dl.line.departures):
                depart = start + timedelta(seconds=off_o)
                if earliest_at <= depart <= self.horizon_end_at and start + timedelta(seconds=off_d) <= parcel.due_at:
                    out.add((dl.line.line_id, run, dl.direction))
        return out

    def reason_of(self, parcel_id: str) -> str:
        """Return why `parcel_id` rides its ferry/bus (the reason it was assigned with)."""
        return self._streams[self._where[parcel_id]].reasons[parcel_id]

    def run_of(self, parcel_id: str) -> tuple[str, int, str] | None:
        """Return (line id, run, direction) `parcel_id` is assigned to, or None."""
        skey = self._where.get(parcel_id)
        return None if skey is None else (skey[0], skey[1], skey[2])

    def no_option_reason(self, parcel: Parcel) -> str:
        """Return why a parcel has no surface option (call after `best_option` returned None)."""
        routes = self._routes(parcel.origin, parcel.destination)
        if not routes:
            return f"no ferry or bus line runs {parcel.origin} -> {parcel.destination}"
        if all(self.slots_for(parcel, dl.line.mode) is None for dl, _, _ in routes):
            return self.size_reason(parcel)
        return "no ferry/bus departure with spare capacity before the horizon ends"

    def size_reason(self, parcel: Parcel) -> str:
        """Return why `parcel` is too big for surface transport."""
        c = self.config
        return (f"too big for ferry/bus: {parcel.weight_kg:.1f} kg, {parcel.volume_l:.0f} l exceeds ferry loose "
                f"freight ({c.ferry_loose_max_kg:g} kg, {c.ferry_loose_max_l:g} l) and the bus locker's L "
                f"compartment ({c.bus_compartment_max_kg:g} kg, {c.bus_compartment_max_l:g} l)")

    def assign(self, parcel: Parcel, option: SurfaceOption, reason: str, *, connecting: bool = False) -> None:
        """Put `parcel` on `option`'s run, opening a new box when the current one is full."""
        line = next(ln for ln in self.lines if ln.line_id == option.line_id)
        skey = (option.line_id, option.run, option.direction, parcel.origin, parcel.destination, connecting)
        stream = self._streams.get(skey)
        if stream is None:
            stream = _BoxStream(line=line, direction=option.direction, run=option.run, origin=parcel.origin,
                                destination=parcel.destination, depart_at=option.depart_at,
                                arrive_at=option.arrive_at, connecting=connecting)
            self._streams[skey] = stream
        loose = self.slots_for(parcel, line.mode)
        if loose is None:
            raise AssertionError(f"parcel {parcel.parcel_id} does not fit {line.mode} {line.line_id}")
        before = stream.slots
        self._add(stream, parcel.weight_kg, parcel.volume_l, loose)
        key = (option.line_id, option.run, option.direction)
        self._boxes_used[key] = self._boxes_used.get(key, 0) + stream.slots - before
        stream.items[parcel.parcel_id] = (parcel.weight_kg, parcel.volume_l, loose)
        stream.reasons[parcel.parcel_id] = reason
        self._where[parcel.parcel_id] = skey
        if parcel.due_at is not None and option.arrive_at > parcel.due_at:
            stream.late.append(parcel.parcel_id)

    def _add(self, stream: _BoxStream, kg: float, litres: float, loose: int) -> None:
        if loose:
            stream.loose_slots += loose
            return
        box = stream.boxes[-1] if stream.boxes else None
        if (box is None or box[0] + kg > self.config.surface_box_max_kg
                or box[1] + litres > self.config.surface_box_volume_l):
            stream.boxes.append([0.0, 0.0])
            box = stream.boxes[-1]
        box[0] += kg
        box[1] += litres

    def release(self, parcel_id: str) -> None:
        """Take `parcel_id` off the run it was assigned to (repacking that stream's boxes)."""
        skey = self._where.pop(parcel_id)
        stream = self._streams[skey]
        before = stream.slots
        del stream.items[parcel_id]
        del stream.reasons[parcel_id]
        stream.late = [p for p in stream.late if p != parcel_id]
        stream.boxes, stream.loose_slots = [], 0
        for kg, litres, loose in stream.items.values():
            self._add(stream, kg, litres, loose)
        key = skey[:3]
        self._boxes_used[key] += stream.slots - before
        if not stream.items:
            del self._streams[skey]

    def legs(self, *, connecting: bool = False) -> list[SurfaceLeg]:
        """Return the surface-only (or, with `connecting`, the bus + drone) legs so far, by departure."""
        out = [
            SurfaceLeg(mode=s.line.mode, line_id=s.line.line_id, origin=s.origin, destination=s.destination,
                       parcel_ids=tuple(s.items), depart_at=s.depart_at, arrive_at=s.arrive_at,
                       boxes=s.slots, reasons=dict(s.reasons), late_parcel_ids=tuple(s.late),
                       direction=s.direction)
            for s in self._streams.values() if s.connecting == connecting
        ]
        return sorted(out, key=lambda leg: (leg.depart_at, leg.line_id, leg.origin, leg.destination))

    def boxes_used(self) -> dict[tuple[str, int, str], int]:
        """Return boxes used per (line id, run index, direction)."""
        return dict(self._boxes_used)
