"""Exact shortest paths in a polygonal free space via a reduced visibility graph.

Theory (Lozano-Pérez & Wesley 1979; de Berg et al., *Computational Geometry*, ch. 15): in a closed
polygonal domain the shortest path between two points is a polygonal chain whose inner vertices are
*reflex* vertices of the domain, and at each of them the path wraps tangentially around the obstacle.
So the graph needs only the reflex vertices, and only the edges that are tangent at both ends
("bitangents"); pruning the rest keeps every shortest path.

Static part (built once per free space and cached by the caller): reflex vertices, bitangent
candidate pairs filtered with vectorised cross products, visibility decided for all remaining
segments in one vectorised GEOS ``covers`` call against the prepared free space, then all-pairs
shortest distances and successors by a numpy Floyd–Warshall. A query only tests which nodes see the
start and the goal (again tangent-filtered and vectorised) and takes the minimum of
``|s u| + D[u, v] + |v g|`` over those pairs, so repeated pad-to-pad queries are cheap.

All coordinates are local metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from flight_plans.geofence import as_polygonal

XY = tuple[float, float]

#: Points closer than this (metres) are the same point: avoids zero-length segments in GEOS.
_SAME_POINT_M = 1e-9
#: Candidate pairs tested one by one before testing all remaining segments at once.
_LAZY_BUDGET = 64


class PointVisibility:
    """Which graph nodes a query point sees; tests segments lazily and remembers the answers.

    ``candidates`` are the nodes in the point's connected part of the free space whose tangent
    condition holds; ``dist_m`` their straight-line distances. Whether a candidate is actually
    visible is decided on demand (one GEOS ``covers`` per segment) or for all at once.
    """

    def __init__(self, graph: VisibilityGraph, xy: XY):
        self.xy = (float(xy[0]), float(xy[1]))
        self.components = graph.components_at(self.xy)
        p = np.asarray(self.xy)
        if graph.node_count == 0 or not self.components:
            self.candidates = np.zeros(0, dtype=np.int64)
            self.dist_m = np.zeros(0)
        else:
            d = p[None, :] - graph.nodes_xy
            dist = np.hypot(d[:, 0], d[:, 1])
            ok = _tangent(d, graph.nodes_xy, graph.prev_xy, graph.next_xy) | (dist <= _SAME_POINT_M)
            if graph.component_count > 1:
                in_part = np.zeros(graph.component_count, dtype=bool)
                in_part[list(self.components)] = True
                ok &= in_part[graph.node_component]
            self.candidates = np.flatnonzero(ok)
            self.dist_m = dist[self.candidates]
        self._graph = graph
        self._seen: dict[int, bool] = {}

    def sees(self, k: int) -> bool:
        """Return whether the point sees candidate number ``k`` (an index into ``candidates``)."""
        hit = self._seen.get(k)
        if hit is None:
            node = self._graph.nodes_xy[self.candidates[k]]
            hit = self._graph.sees(self.xy, (float(node[0]), float(node[1])))
            self._seen[k] = hit
        return hit

    def visible_mask(self) -> np.ndarray:
        """Return a boolean mask over ``candidates``: which ones the point sees (vectorised)."""
        todo = np.array([k for k in range(len(self.candidates)) if k not in self._seen], dtype=np.int64)
        if len(todo):
            far = self.dist_m[todo] > _SAME_POINT_M
            result = np.ones(len(todo), dtype=bool)
            if far.any():
                nodes = self._graph.nodes_xy[self.candidates[todo[far]]]
                p = np.broadcast_to(np.asarray(self.xy), nodes.shape)
                result[far] = shapely.covers(
                    self._graph.free, shapely.linestrings(np.stack([p, nodes], axis=1))
                )
            self._seen.update(zip(todo.tolist(), result.tolist(), strict=True))
        return np.array([self._seen[k] for k in range(len(self.candidates))], dtype=bool)


@dataclass(frozen=True, kw_only=True, eq=False)
class VisibilityGraph:
    """The static visibility graph of a free space (see module docstring)."""

    free: BaseGeometry
    nodes_xy: np.ndarray  # (N, 2) reflex vertices
    prev_xy: np.ndarray  # (N, 2) previous vertex along the ring (free space on the left)
    next_xy: np.ndarray  # (N, 2) next vertex along the ring
    dist_m: np.ndarray  # (N, N) shortest distance between nodes, inf when disconnected
    succ: np.ndarray  # (N, N) next node on the shortest path i -> j, -1 when none
    node_component: np.ndarray  # (N,) index of the free-space polygon each node belongs to
    component_tree: shapely.STRtree  # the free-space polygons, for point location
    edge_count: int

    @classmethod
    def build(cls, free: BaseGeometry) -> VisibilityGraph:
        """Build the graph of a (multi)polygonal free space in metres (closed set)."""
        free = shapely.make_valid(free) if not free.is_valid else free
        shapely.prepare(free)
        nodes, prevs, nexts, comps = [], [], [], []
        polys = as_polygonal(free)
        for comp, poly in enumerate(polys):
            # Exterior counter-clockwise, holes clockwise: the free space is always on the left, so a
            # right turn (negative cross product) is a reflex vertex of the free space.
            poly = orient(poly, sign=1.0)
            for ring in (poly.exterior, *poly.interiors):
                pts = _ring_points(np.asarray(ring.coords))
                n = len(pts)
                if n < 3:
                    continue
                prv = np.roll(pts, 1, axis=0)
                nxt = np.roll(pts, -1, axis=0)
                turn = _cross(pts - prv, nxt - pts)
                reflex = turn < 0
                nodes.append(pts[reflex])
                prevs.append(prv[reflex])
                nexts.append(nxt[reflex])
                comps.append(np.full(int(reflex.sum()), comp, dtype=np.int64))
        if nodes:
            nodes_xy = np.concatenate(nodes)
            prev_xy = np.concatenate(prevs)
            next_xy = np.concatenate(nexts)
            node_component = np.concatenate(comps)
        else:
            nodes_xy = prev_xy = next_xy = np.zeros((0, 2))
            node_component = np.zeros(0, dtype=np.int64)
        n = len(nodes_xy)
        dist = np.full((n, n), np.inf)
        np.fill_diagonal(dist, 0.0)
        succ = np.full((n, n), -1, dtype=np.int64)
        np.fill_diagonal(succ, np.arange(n))
        edge_count = 0
        if n > 1:
            iu, ju = np.triu_indices(n, k=1)
            d = nodes_xy[ju] - nodes_xy[iu]
            ok = _tangent(d, nodes_xy[iu], prev_xy[iu], next_xy[iu]) & _tangent(
                -d, nodes_xy[ju], prev_xy[ju], next_xy[ju]
            )
            iu, ju = iu[ok], ju[ok]
            if len(iu):
                lines = shapely.linestrings(np.stack([nodes_xy[iu], nodes_xy[ju]], axis=1))
                vis = shapely.covers(free, lines)
                iu, ju = iu[vis], ju[vis]
                w = np.hypot(*(nodes_xy[ju] - nodes_xy[iu]).T)
                dist[iu, ju] = w
                dist[ju, iu] = w
                succ[iu, ju] = ju
                succ[ju, iu] = iu
                edge_count = len(iu)
            dist, succ = _floyd_warshall(dist, succ)
        return cls(
            free=free,
            nodes_xy=nodes_xy,
            prev_xy=prev_xy,
            next_xy=next_xy,
            dist_m=dist,
            succ=succ,
            node_component=node_component,
            component_tree=shapely.STRtree(polys),
            edge_count=edge_count,
        )

    @property
    def component_count(self) -> int:
        """Number of separate polygons of the free space."""
        return len(self.component_tree.geometries)

    @property
    def node_count(self) -> int:
        """Number of graph nodes (reflex vertices of the free space)."""
        return len(self.nodes_xy)

    def contains(self, xy: XY) -> bool:
        """Return whether the point (metres) lies in the closed free space."""
        return bool(self.free.covers(Point(xy)))

    def visibility(self, xy: XY) -> PointVisibility:
        """Return a :class:`PointVisibility` for a point (metres); reuse it across queries."""
        return PointVisibility(self, xy)

    def components_at(self, xy: XY) -> frozenset[int]:
        """Return the indexes of the free-space polygons that cover the point (empty if none)."""
        pt = Point(xy)
        return frozenset(int(i) for i in self.component_tree.query(pt, predicate="covered_by"))

    def sees(self, a: XY, b: XY) -> bool:
        """Return whether the straight segment a–b (metres) lies in the closed free space."""
        if np.hypot(b[0] - a[0], b[1] - a[1]) <= _SAME_POINT_M:
            return self.contains(a)
        return bool(self.free.covers(LineString([a, b])))

    def shortest_path(
        self, start: XY | PointVisibility, goal: XY | PointVisibility
    ) -> tuple[list[XY], float] | None:
        """Return the shortest path (points in metres, start and goal included) and its length.

        Both points must lie in the free space (check with :meth:`contains`); returns ``None`` when
        the goal cannot be reached. Pass :class:`PointVisibility` values to reuse them across queries.

        Every candidate pair (u, v) has the lower bound ``|s u| + D[u, v] + |v g|``, which is its
        exact cost when s sees u and v sees g. Pairs are tried cheapest first, so the first pair whose
        two segments are both visible is optimal; usually that is among the first few, so only a
        handful of segments are tested. After a budget the rest are tested in one vectorised call.
        """
        sv = start if isinstance(start, PointVisibility) else self.visibility(start)
        gv = goal if isinstance(goal, PointVisibility) else self.visibility(goal)
        s, g = sv.xy, gv.xy
        if not (sv.components & gv.components):
            return None
        if self.sees(s, g):
            return [s, g], float(np.hypot(g[0] - s[0], g[1] - s[1]))
        if len(sv.candidates) == 0 or len(gv.candidates) == 0:
            return None
        bound = sv.dist_m[:, None] + self.dist_m[np.ix_(sv.candidates, gv.candidates)] + gv.dist_m[None, :]
        flat = bound.ravel()
        budget = min(_LAZY_BUDGET, flat.size)
        first = np.argpartition(flat, budget - 1)[:budget] if budget < flat.size else np.arange(flat.size)
        first = first[np.argsort(flat[first], kind="stable")]
        best: tuple[int, int] | None = None
        for idx in first.tolist():
            if not np.isfinite(flat[idx]):
                break
            i, j = divmod(idx, len(gv.candidates))
            if sv.sees(i) and gv.sees(j):
                best = (i, j)
                break
        if best is None:
            masked = np.where(sv.visible_mask()[:, None] & gv.visible_mask()[None, :], bound, np.inf)
            idx = int(np.argmin(masked))
            if not np.isfinite(masked.flat[idx]):
                return None
            best = divmod(idx, len(gv.candidates))
        i, j = best
        u, v = int(sv.candidates[i]), int(gv.candidates[j])
        path = [s]
        node = u
        while True:
            path.append((float(self.nodes_xy[node, 0]), float(self.nodes_xy[node, 1])))
            if node == v:
                break
            node = int(self.succ[node, v])
        path.append(g)
        return _drop_repeats(path), float(bound[i, j])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _tangent(d: np.ndarray, at: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Whether the line through ``at`` with direction ``d`` keeps both ring neighbours on one side.

    Only such a line can carry a shortest path that bends at ``at``; otherwise it either enters the
    obstacle or passes through free space where a straighter path exists.
    """
    c1 = _cross(d, prev - at)
    c2 = _cross(d, nxt - at)
    return c1 * c2 >= 0


def _ring_points(coords: np.ndarray) -> np.ndarray:
    pts = coords[:-1, :2] if len(coords) > 1 and np.array_equal(coords[0], coords[-1]) else coords[:, :2]
    if len(pts) < 2:
        return pts
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    return pts[keep]


def _floyd_warshall(dist: np.ndarray, succ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs shortest distances with the successor matrix (on copies); O(N^3) in numpy."""
    dist = dist.copy()
    succ = succ.copy()
    alt = np.empty_like(dist)
    better = np.empty(dist.shape, dtype=bool)
    for k in range(len(dist)):
        np.add(dist[:, k, None], dist[None, k, :], out=alt)
        np.less(alt, dist, out=better)
        np.copyto(dist, alt, where=better)
        np.copyto(succ, succ[:, k, None], where=better)
    return dist, succ


def _drop_repeats(path: list[XY]) -> list[XY]:
    out = [path[0]]
    for p in path[1:]:
        if np.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) > _SAME_POINT_M:
            out.append(p)
    if len(out) == 1:
        out.append(path[-1])
    return out
