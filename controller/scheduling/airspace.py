"""4D deconfliction and pad-slot reservations.

Each sortie is a 4D trajectory: piecewise-linear horizontal motion along its legs' paths (time
proportional to distance within a leg) on one cruise altitude layer. Two sorties conflict when,
at some instant both are airborne, they are closer than the horizontal separation AND on layers
closer than the vertical separation. Layers are spaced by the vertical separation, so "same layer"
is the only vertical conflict. Take-off and landing are guarded by pad slots instead: a pad's
capacity is the number of simultaneous ground operations (take-off, landing, drop) it supports;
parked drones wait in the swap bay and do not count.

Resolution order (cheapest for the objective first): keep the planned departure on the preferred
layer; else another layer at the same time; else shift the departure by steps.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

Segment = tuple[float, float, float, float, float, float]  # t0_s, t1_s, x0_m, y0_m, x1_m, y1_m


@dataclass(frozen=True, kw_only=True, slots=True)
class Flight:
    """A placed trajectory on a layer (times in epoch seconds)."""

    sortie_id: str
    start_s: float
    end_s: float
    bbox: tuple[float, float, float, float]
    segments: tuple[Segment, ...]


def shifted(segments: tuple[Segment, ...], dt_s: float) -> tuple[Segment, ...]:
    """Return `segments` moved later by `dt_s` seconds."""
    return tuple((a + dt_s, b + dt_s, x0, y0, x1, y1) for a, b, x0, y0, x1, y1 in segments)


def bbox_of(segments: tuple[Segment, ...]) -> tuple[float, float, float, float]:
    """Return (min x, min y, max x, max y) of the segments (m)."""
    xs = [v for s in segments for v in (s[2], s[4])]
    ys = [v for s in segments for v in (s[3], s[5])]
    return (min(xs), min(ys), max(xs), max(ys))


def min_distance_m(a: Segment, b: Segment) -> float:
    """Return the closest horizontal approach (m) of two moving points while both are on their segments.

    Returns infinity when the time windows do not overlap.
    """
    ts, te = max(a[0], b[0]), min(a[1], b[1])
    if te < ts:
        return math.inf

    def pos_vel(s: Segment) -> tuple[float, float, float, float]:
        dur = s[1] - s[0]
        vx = (s[4] - s[2]) / dur if dur > 0 else 0.0
        vy = (s[5] - s[3]) / dur if dur > 0 else 0.0
        return s[2] + vx * (ts - s[0]), s[3] + vy * (ts - s[0]), vx, vy

    ax, ay, avx, avy = pos_vel(a)
    bx, by, bvx, bvy = pos_vel(b)
    rx, ry, vx, vy = ax - bx, ay - by, avx - bvx, avy - bvy
    vv = vx * vx + vy * vy
    t = 0.0 if vv == 0 else min(max(-(rx * vx + ry * vy) / vv, 0.0), te - ts)
    return math.hypot(rx + vx * t, ry + vy * t)


class Airspace:
    """Placed flights per altitude layer, queried for conflicts."""

    def __init__(self, *, layers_m: tuple[float, ...], horizontal_separation_m: float) -> None:
        self.layers_m = layers_m
        self.sep_m = horizontal_separation_m
        self._starts: dict[float, list[float]] = {a: [] for a in layers_m}
        self._flights: dict[float, list[Flight]] = {a: [] for a in layers_m}
        self._max_dur_s = 0.0

    def conflicts(self, segments: tuple[Segment, ...], altitude_m: float) -> list[str]:
        """Return ids of placed sorties on `altitude_m` that come within separation of `segments`."""
        if not segments:
            return []
        start, end = segments[0][0], segments[-1][1]
        box = bbox_of(segments)
        sep = self.sep_m
        starts = self._starts[altitude_m]
        flights = self._flights[altitude_m]
        lo = bisect.bisect_left(starts, start - self._max_dur_s)
        hi = bisect.bisect_right(starts, end)
        out: list[str] = []
        for f in flights[lo:hi]:
            if f.end_s < start or f.start_s > end:
                continue
            fb = f.bbox
            if fb[0] - sep > box[2] or box[0] - sep > fb[2] or fb[1] - sep > box[3] or box[1] - sep > fb[3]:
                continue
            if any(
                min_distance_m(s, t) < sep
                for s in segments
                for t in f.segments
                if s[0] <= t[1] and t[0] <= s[1]
            ):
                out.append(f.sortie_id)
        return out

    def add(self, sortie_id: str, segments: tuple[Segment, ...], altitude_m: float) -> None:
        """Place a sortie's trajectory on a layer."""
        f = Flight(sortie_id=sortie_id, start_s=segments[0][0], end_s=segments[-1][1],
                   bbox=bbox_of(segments), segments=segments)
        i = bisect.bisect_right(self._starts[altitude_m], f.start_s)
        self._starts[altitude_m].insert(i, f.start_s)
        self._flights[altitude_m].insert(i, f)
        self._max_dur_s = max(self._max_dur_s, f.end_s - f.start_s)


class PadSlots:
    """Ground-operation intervals per pad, checked against the pad's capacity."""

    def __init__(self, capacities: dict[str, int]) -> None:
        self.capacities = capacities
        self._starts: dict[str, list[float]] = {p: [] for p in capacities}
        self._ends: dict[str, list[float]] = {p: [] for p in capacities}
        self._max_len_s = 0.0

    def fits(self, pad: str, start_s: float, end_s: float) -> bool:
        """Return whether one more ground operation fits on `pad` during [start_s, end_s)."""
        starts, ends = self._starts[pad], self._ends[pad]
        lo = bisect.bisect_left(starts, start_s - self._max_len_s)
        hi = bisect.bisect_left(starts, end_s)
        overlapping = [(starts[i], ends[i]) for i in range(lo, hi) if ends[i] > start_s]
        if len(overlapping) < self.capacities[pad]:
            return True
        # Sweep: the most simultaneous operations at any instant inside the window.
        events = sorted([(max(s, start_s), 1) for s, _ in overlapping] + [(e, -1) for _, e in overlapping])
        level = peak = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak < self.capacities[pad]

    def add(self, pad: str, start_s: float, end_s: float) -> None:
        """Reserve a ground operation on `pad`."""
        i = bisect.bisect_right(self._starts[pad], start_s)
        self._starts[pad].insert(i, start_s)
        self._ends[pad].insert(i, end_s)
        self._max_len_s = max(self._max_len_s, end_s - start_s)

    def peak_usage(self, pad: str) -> int:
        """Return the most simultaneous reserved operations ever on `pad`."""
        events = sorted([(s, 1) for s in self._starts[pad]] + [(e, -1) for e in self._ends[pad]])
        level = peak = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak
