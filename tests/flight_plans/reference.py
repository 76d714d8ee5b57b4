"""An independent exact shortest-path computation for tests.

Full visibility graph over *every* vertex of the free space (no reflex-vertex or tangent pruning,
no all-pairs matrix), one GEOS ``covers`` test per segment, and a textbook Dijkstra with a heap.
It shares only the free-space construction (``Geofence.free_space_m``) with the planner.
"""

from __future__ import annotations

import heapq
import math

from shapely.geometry import LineString, Point


def reference_length_m(free, start_xy, goal_xy) -> float | None:
    free_polys = (
        [free]
        if free.geom_type == "Polygon"
        else [g for g in getattr(free, "geoms", []) if g.geom_type == "Polygon"]
    )
    vertices = []
    for poly in free_polys:
        for ring in (poly.exterior, *poly.interiors):
            vertices.extend(ring.coords[:-1])
    pts = [tuple(start_xy), tuple(goal_xy), *dict.fromkeys(tuple(v) for v in vertices)]
    if not (free.covers(Point(start_xy)) and free.covers(Point(goal_xy))):
        return None

    def visible(a, b):
        if a == b:
            return True
        return free.covers(LineString([a, b]))

    best = {0: 0.0}
    heap = [(0.0, 0)]
    done = set()
    while heap:
        d, i = heapq.heappop(heap)
        if i in done:
            continue
        if i == 1:
            return d
        done.add(i)
        for j in range(len(pts)):
            if j in done or j == i:
                continue
            w = math.dist(pts[i], pts[j])
            if d + w < best.get(j, math.inf) and visible(pts[i], pts[j]):
                best[j] = d + w
                heapq.heappush(heap, (d + w, j))
    return None
