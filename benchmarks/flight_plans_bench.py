"""Route planner vs pyvisgraph on the same buffered polygons: route length ratio and time per query.

For each fence (the bundled Shengsi fence and random fences with 10 / 100 / 1000 exclusion
vertices) the free space is computed once (inclusion shrunk, exclusions grown by the margin). The
baseline, pyvisgraph, only knows obstacle polygons without holes, so it gets the complement of the
free space inside a large box, cut into hole-free pieces; both then solve the same geometric
problem and pyvisgraph's answer is an exact visibility-graph optimum (length ratio goal 1.000).

Times: our per-query time includes everything ``plan_route`` does per call (endpoint checks,
visibility of start/goal, path extraction) with the static graph already cached; pyvisgraph's
per-query time is ``VisGraph.shortest_path`` on an already built graph. Build times are printed too.
Baseline paths that cross an obstacle (pyvisgraph occasionally returns one) are counted and left
out of the length ratio.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from importlib import resources

from shapely.geometry import LineString, Point, box

from flight_plans import Geofence, plan_route
from flight_plans.geofence import as_polygonal
from flight_plans.random_fences import random_fence_geojson
from flight_plans.route import visibility_graph

MARGIN_M = 20.0
ALTITUDE_M = 60.0
QUERIES = 30


def _hole_free(poly) -> list:
    """Cut a polygon with holes into hole-free pieces along vertical lines through the holes."""
    if not poly.interiors:
        return [poly]
    hole = poly.interiors[0]
    minx, _, maxx, _ = hole.bounds
    x = (minx + maxx) / 2
    bx0, by0, bx1, by1 = poly.bounds
    out = []
    for half in (box(bx0 - 1, by0 - 1, x, by1 + 1), box(x, by0 - 1, bx1 + 1, by1 + 1)):
        for part in as_polygonal(poly.intersection(half)):
            out.extend(_hole_free(part))
    return out


def _pyvisgraph_obstacles(free):
    minx, miny, maxx, maxy = free.bounds
    frame = box(minx - 1000, miny - 1000, maxx + 1000, maxy + 1000)
    pieces = []
    for poly in as_polygonal(frame.difference(free)):
        pieces.extend(_hole_free(poly))
    return pieces


def _fences():
    try:
        path = resources.files("controller") / "scenarios" / "shengsi" / "geofence.geojson"
        yield "shengsi", Geofence.from_geojson(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ModuleNotFoundError):
        print("shengsi fence not found; skipped")
    for n in (10, 100, 1000):
        radius = (300.0, 2000.0) if n < 1000 else (200.0, 600.0)
        yield (
            f"random-{n}",
            Geofence.from_geojson(random_fence_geojson(seed=7, total_vertices=n, zone_radius_m=radius)),
        )


def _queries(g: Geofence, free, rng: random.Random):
    minx, miny, maxx, maxy = free.bounds
    pts = []
    while len(pts) < 2 * QUERIES:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if free.contains(Point(x, y)):
            pts.append(g.projection.to_lat_lon(x, y))
    return list(zip(pts[::2], pts[1::2], strict=True))


def main() -> None:
    import pyvisgraph as vg

    print(
        f"{'fence':<12}{'vertices':>9}{'len ratio':>11}{'worst':>9}{'ours ms/q':>11}{'pvg ms/q':>10}{'speed-up':>10}"
        f"{'ours build s':>14}{'pvg build s':>13}  pvg paths crossing obstacles (excluded)"
    )
    for name, g in _fences():
        t0 = time.perf_counter()
        graph = visibility_graph(g, margin_m=MARGIN_M, altitude_m=ALTITUDE_M)
        ours_build = time.perf_counter() - t0
        free = graph.free
        obstacles = _pyvisgraph_obstacles(free)
        t0 = time.perf_counter()
        baseline = vg.VisGraph()
        baseline.build(
            [[vg.Point(x, y) for x, y in p.exterior.coords[:-1]] for p in obstacles], workers=1, status=False
        )
        pvg_build = time.perf_counter() - t0
        vertices = sum(len(r.coords) - 1 for p in as_polygonal(free) for r in (p.exterior, *p.interiors))
        queries = _queries(g, free, random.Random(1))
        ours_s = pvg_s = 0.0
        ratios = []
        invalid = 0
        for s, t in queries:
            t0 = time.perf_counter()
            route = plan_route(g, s, t, margin_m=MARGIN_M, altitude_m=ALTITUDE_M)
            ours_s += time.perf_counter() - t0
            sx, sy = g.projection.to_xy(*s)
            tx, ty = g.projection.to_xy(*t)
            t0 = time.perf_counter()
            path = baseline.shortest_path(vg.Point(sx, sy), vg.Point(tx, ty))
            pvg_s += time.perf_counter() - t0
            ref = sum(math.dist((a.x, a.y), (b.x, b.y)) for a, b in itertools.pairwise(path))
            # pyvisgraph sometimes returns a path through an obstacle; such a path is no reference.
            if len(path) >= 2 and not free.buffer(1e-6).covers(LineString([(p.x, p.y) for p in path])):
                invalid += 1
            elif route.found and ref > 0:
                ratios.append(route.planar_length_m / ref)
        mean = sum(ratios) / len(ratios) if ratios else math.nan
        worst = max(ratios, key=lambda r: abs(r - 1)) if ratios else math.nan
        n = len(queries)
        print(
            f"{name:<12}{vertices:>9}{mean:>11.6f}{worst:>9.5f}{ours_s / n * 1e3:>11.2f}{pvg_s / n * 1e3:>10.2f}"
            f"{pvg_s / ours_s:>9.1f}x{ours_build:>14.2f}{pvg_build:>13.2f}{invalid:>6}/{n}",
            flush=True,
        )


if __name__ == "__main__":
    main()
