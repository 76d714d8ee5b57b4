"""Geofence model: inclusion (operating area) and exclusion (no-fly) zones, read from/written to GeoJSON.

GeoJSON input (RFC 7946, positions are ``[lon, lat]``)::

    {"type": "FeatureCollection", "features": [
      {"type": "Feature",
       "geometry": {"type": "Polygon" | "MultiPolygon", "coordinates": ...}
                 | {"type": "Point", "coordinates": [lon, lat]},      # a circle, needs radius_m
       "properties": {"kind": "inclusion" | "exclusion", "name": "...",
                      "floor_m": 0, "ceiling_m": 120, "radius_m": 500}}]}

Altitudes are metres above the take-off point (≈ AGL on these sea-level islands). A zone applies to
a flight whose altitude band overlaps ``[floor_m, ceiling_m]``; a zone without a band applies at all
altitudes. Holes in an *inclusion* polygon are no-fly areas; holes in an *exclusion* polygon are
ignored (the zone is treated as solid) because ArduPilot's fence cannot express them and the planner
must never plan through airspace the vehicle's own fence forbids.

Geometry is built in a local transverse Mercator frame (:class:`LocalProjection`) centred on the
fence. Circles are replaced by regular polygons chosen on the safe side: an exclusion circle by a
circumscribed polygon (it contains the circle), an inclusion circle by an inscribed one.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from flight_plans.errors import GeofenceError
from flight_plans.projection import LocalProjection

#: CAAC: above 120 m true height is controlled airspace (条例 art. 19).
CAAC_MAX_ALT_M = 120.0
#: Default minimum cruise altitude (metres above take-off): clears masts, trees and ship superstructure.
DEFAULT_MIN_CRUISE_ALT_M = 30.0
#: Sides of the regular polygon that stands in for a circle.
CIRCLE_SEGMENTS = 32
#: Mitre joins keep corners sharp like ArduPilot's OA margin (vertex moved along the bisector); the
#: limit bevels very sharp corners at 2 × margin, which still contains the exact (round) offset.
MITRE_LIMIT = 2.0


class ZoneKind(enum.StrEnum):
    """Whether a zone is operating area (``inclusion``) or no-fly (``exclusion``)."""

    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


LatLon = tuple[float, float]
Ring = tuple[LatLon, ...]


@dataclass(frozen=True, kw_only=True)
class Circle:
    """A circle: centre (degrees) and radius (metres)."""

    center_lat_deg: float
    center_lon_deg: float
    radius_m: float


@dataclass(frozen=True, kw_only=True)
class Zone:
    """One geofence zone.

    Exactly one of ``polygons`` (each polygon = exterior ring then hole rings, rings as closed
    sequences of (lat_deg, lon_deg)) and ``circle`` is set. ``floor_m``/``ceiling_m`` bound the
    altitudes (m above take-off) where the zone applies; ``None`` means unbounded.
    """

    kind: ZoneKind
    name: str | None = None
    polygons: tuple[tuple[Ring, ...], ...] = ()
    circle: Circle | None = None
    floor_m: float | None = None
    ceiling_m: float | None = None

    def applies_between(self, low_alt_m: float, high_alt_m: float) -> bool:
        """Return whether the band ``[low_alt_m, high_alt_m]`` overlaps the zone's floor/ceiling band."""
        floor = -math.inf if self.floor_m is None else self.floor_m
        ceiling = math.inf if self.ceiling_m is None else self.ceiling_m
        return floor <= high_alt_m and low_alt_m <= ceiling

    @property
    def label(self) -> str:
        """A human label: the name, or the kind."""
        return self.name or f"unnamed {self.kind.value} zone"


@dataclass(frozen=True, kw_only=True, eq=False)
class Geofence:
    """Inclusion and exclusion zones plus the global altitude limits and the local metric frame.

    Treat instances as immutable: planning caches (e.g. the visibility graph per margin and altitude)
    are stored on the instance, so build a new ``Geofence`` instead of changing one.
    """

    zones: tuple[Zone, ...]
    projection: LocalProjection
    max_alt_m: float = CAAC_MAX_ALT_M
    min_cruise_alt_m: float = DEFAULT_MIN_CRUISE_ALT_M
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_zones(
        cls,
        zones: Sequence[Zone],
        *,
        max_alt_m: float = CAAC_MAX_ALT_M,
        min_cruise_alt_m: float = DEFAULT_MIN_CRUISE_ALT_M,
    ) -> Geofence:
        """Build a geofence from zones, choosing the local frame at the centre of their bounding box."""
        if not zones:
            raise GeofenceError("no zones")
        if not any(z.kind is ZoneKind.INCLUSION for z in zones):
            raise GeofenceError("no inclusion zone: the operating area is undefined")
        lats: list[float] = []
        lons: list[float] = []
        for z in zones:
            if z.circle is not None:
                lats.append(z.circle.center_lat_deg)
                lons.append(z.circle.center_lon_deg)
            for poly in z.polygons:
                for lat, lon in poly[0]:
                    lats.append(lat)
                    lons.append(lon)
        projection = LocalProjection(
            lat0_deg=(min(lats) + max(lats)) / 2, lon0_deg=(min(lons) + max(lons)) / 2
        )
        fence = cls(
            zones=tuple(zones), projection=projection, max_alt_m=max_alt_m, min_cruise_alt_m=min_cruise_alt_m
        )
        for index, zone in enumerate(fence.zones):
            fence._check_zone_geometry(index, zone)
        return fence

    @classmethod
    def from_geojson(
        cls,
        obj: Mapping[str, Any],
        *,
        max_alt_m: float = CAAC_MAX_ALT_M,
        min_cruise_alt_m: float = DEFAULT_MIN_CRUISE_ALT_M,
    ) -> Geofence:
        """Parse a GeoJSON FeatureCollection (a dict, see the module docstring) into a geofence.

        Raises
        ------
        GeofenceError
            naming the offending feature: wrong ``kind``, self-intersecting or unclosed ring, a
            position off the globe (e.g. lat/lon swapped), a circle without a positive ``radius_m``,
            ``floor_m`` above ``ceiling_m``, an empty collection or no inclusion zone.
        """
        if not isinstance(obj, Mapping) or obj.get("type") != "FeatureCollection":
            raise GeofenceError("expected a GeoJSON object with type 'FeatureCollection'")
        features = obj.get("features")
        if not isinstance(features, list) or not features:
            raise GeofenceError("the FeatureCollection has no features")
        zones = [_zone_from_feature(i, f) for i, f in enumerate(features)]
        return cls.from_zones(zones, max_alt_m=max_alt_m, min_cruise_alt_m=min_cruise_alt_m)

    def to_geojson(self) -> dict[str, Any]:
        """Return the zones as a GeoJSON FeatureCollection (``[lon, lat]`` positions)."""
        return {"type": "FeatureCollection", "features": [_zone_to_feature(z) for z in self.zones]}

    # ------------------------------------------------------------------ zones
    @property
    def inclusions(self) -> tuple[Zone, ...]:
        """Inclusion zones, in document order."""
        return tuple(z for z in self.zones if z.kind is ZoneKind.INCLUSION)

    @property
    def exclusions(self) -> tuple[Zone, ...]:
        """Exclusion zones, in document order."""
        return tuple(z for z in self.zones if z.kind is ZoneKind.EXCLUSION)

    # ------------------------------------------------------------------ metric geometry
    def zone_geometry_m(self, zone: Zone, *, grow_m: float = 0.0) -> BaseGeometry:
        """Return the zone in local metres, grown by ``grow_m`` (negative shrinks) on the safe side.

        Exclusion polygons lose their holes (see module docstring). Circles become circumscribed
        (exclusion) or inscribed (inclusion) regular polygons of radius ``radius_m + grow_m``.
        """
        key = ("zone", id(zone), grow_m)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if zone.circle is not None:
            cx, cy = self.projection.to_xy(zone.circle.center_lat_deg, zone.circle.center_lon_deg)
            radius_m = zone.circle.radius_m + grow_m
            if radius_m <= 0:
                geom: BaseGeometry = Polygon()
            else:
                if zone.kind is ZoneKind.EXCLUSION:
                    radius_m /= math.cos(math.pi / CIRCLE_SEGMENTS)
                geom = Polygon(
                    [
                        (
                            cx + radius_m * math.cos(2 * math.pi * k / CIRCLE_SEGMENTS),
                            cy + radius_m * math.sin(2 * math.pi * k / CIRCLE_SEGMENTS),
                        )
                        for k in range(CIRCLE_SEGMENTS)
                    ]
                )
        else:
            parts = []
            for poly in zone.polygons:
                rings = [self._ring_xy(r) for r in poly]
                if zone.kind is ZoneKind.EXCLUSION:
                    parts.append(Polygon(rings[0]))
                else:
                    parts.append(Polygon(rings[0], rings[1:]))
            geom = shapely.union_all(parts) if len(parts) > 1 else parts[0]
            if grow_m:
                geom = geom.buffer(grow_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
        self._cache[key] = geom
        return geom

    def free_space_m(self, *, margin_m: float, altitude_m: float) -> BaseGeometry:
        """Return where a flight at ``altitude_m`` may be, in local metres (closed set, maybe empty).

        That is the union of the inclusion zones applying at ``altitude_m`` shrunk by ``margin_m``,
        minus every exclusion zone applying at ``altitude_m`` grown by ``margin_m`` (ArduPilot OA
        Dijkstra semantics).
        """
        key = ("free", margin_m, self.applicable_zone_indexes(altitude_m))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        inc = [self.zone_geometry_m(z) for z in self.inclusions if z.applies_between(altitude_m, altitude_m)]
        if not inc:
            free: BaseGeometry = Polygon()
        else:
            area = shapely.union_all(inc)
            if margin_m:
                area = area.buffer(-margin_m, join_style="mitre", mitre_limit=MITRE_LIMIT)
            exc = [
                self.zone_geometry_m(z, grow_m=margin_m)
                for z in self.exclusions
                if z.applies_between(altitude_m, altitude_m)
            ]
            free = area.difference(shapely.union_all(exc)) if exc else area
            free = shapely.make_valid(free) if not free.is_valid else free
        self._cache[key] = free
        return free

    def applicable_zone_indexes(self, altitude_m: float) -> tuple[int, ...]:
        """Return the indexes of the zones that apply at ``altitude_m`` (a cache key for planning)."""
        return tuple(i for i, z in enumerate(self.zones) if z.applies_between(altitude_m, altitude_m))

    def zones_at_point(
        self, lat_deg: float, lon_deg: float, *, low_alt_m: float, high_alt_m: float, grow_m: float = 0.0
    ) -> tuple[Zone, ...]:
        """Return the exclusion zones (grown by ``grow_m``) that cover the point within the altitude band."""
        pt = Point(self.projection.to_xy(lat_deg, lon_deg))
        return tuple(
            z
            for z in self.exclusions
            if z.applies_between(low_alt_m, high_alt_m) and self.zone_geometry_m(z, grow_m=grow_m).covers(pt)
        )

    def _ring_xy(self, ring: Ring) -> list[tuple[float, float]]:
        lats = [p[0] for p in ring]
        lons = [p[1] for p in ring]
        xs, ys = self.projection.lon_lat_to_xy_many(lons, lats)
        return list(zip(xs, ys, strict=True))

    def _check_zone_geometry(self, index: int, zone: Zone) -> None:
        for poly in zone.polygons:
            for ring in poly:
                if len(ring) < 4:
                    raise GeofenceError(
                        "a polygon ring needs at least 4 positions (3 corners, closed)",
                        feature_index=index,
                        feature_name=zone.name,
                    )
                xy = self._ring_xy(ring)
                if not Polygon(xy).is_valid:
                    reason = shapely.is_valid_reason(Polygon(xy))
                    raise GeofenceError(
                        f"invalid ring (self-intersecting or degenerate: {reason})",
                        feature_index=index,
                        feature_name=zone.name,
                    )
            rings = [self._ring_xy(r) for r in poly]
            whole = Polygon(rings[0], rings[1:])
            if not whole.is_valid:
                raise GeofenceError(
                    f"invalid polygon: {shapely.is_valid_reason(whole)}",
                    feature_index=index,
                    feature_name=zone.name,
                )


# ---------------------------------------------------------------------- GeoJSON parsing
def _number(value: Any, what: str, index: int, name: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GeofenceError(
            f"{what} must be a finite number, got {value!r}", feature_index=index, feature_name=name
        )
    return float(value)


def _position(pos: Any, index: int, name: str | None) -> LatLon:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        raise GeofenceError(f"position {pos!r} is not [lon, lat]", feature_index=index, feature_name=name)
    lon = _number(pos[0], "longitude", index, name)
    lat = _number(pos[1], "latitude", index, name)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise GeofenceError(
            f"position {list(pos)} is off the globe (latitude {lat} must be within ±90, longitude {lon}"
            " within ±180; GeoJSON order is [lon, lat] — are they swapped?)",
            feature_index=index,
            feature_name=name,
        )
    return (lat, lon)


def _ring(coords: Any, index: int, name: str | None) -> Ring:
    if not isinstance(coords, list):
        raise GeofenceError("a ring must be a list of positions", feature_index=index, feature_name=name)
    ring = tuple(_position(p, index, name) for p in coords)
    if len(ring) < 4:
        raise GeofenceError(
            "a polygon ring needs at least 4 positions (3 corners, closed)",
            feature_index=index,
            feature_name=name,
        )
    if ring[0] != ring[-1]:
        raise GeofenceError(
            "polygon ring is not closed (first and last positions differ)",
            feature_index=index,
            feature_name=name,
        )
    return ring


def _polygon(coords: Any, index: int, name: str | None) -> tuple[Ring, ...]:
    if not isinstance(coords, list) or not coords:
        raise GeofenceError("a Polygon needs at least one ring", feature_index=index, feature_name=name)
    return tuple(_ring(r, index, name) for r in coords)


def _zone_from_feature(index: int, feature: Any) -> Zone:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise GeofenceError("not a GeoJSON Feature", feature_index=index)
    props = feature.get("properties") or {}
    if not isinstance(props, Mapping):
        raise GeofenceError("properties must be an object", feature_index=index)
    name = props.get("name")
    name = None if name is None else str(name)
    kind_raw = props.get("kind")
    try:
        kind = ZoneKind(kind_raw)
    except ValueError:
        raise GeofenceError(
            f"properties.kind must be 'inclusion' or 'exclusion', got {kind_raw!r}",
            feature_index=index,
            feature_name=name,
        ) from None
    floor_m = None if props.get("floor_m") is None else _number(props["floor_m"], "floor_m", index, name)
    ceiling_m = (
        None if props.get("ceiling_m") is None else _number(props["ceiling_m"], "ceiling_m", index, name)
    )
    if floor_m is not None and ceiling_m is not None and floor_m > ceiling_m:
        raise GeofenceError(
            f"floor_m {floor_m} is above ceiling_m {ceiling_m}", feature_index=index, feature_name=name
        )
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise GeofenceError("feature has no geometry", feature_index=index, feature_name=name)
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    common = {"kind": kind, "name": name, "floor_m": floor_m, "ceiling_m": ceiling_m}
    if gtype == "Polygon":
        return Zone(polygons=(_polygon(coords, index, name),), **common)
    if gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise GeofenceError(
                "a MultiPolygon needs at least one polygon", feature_index=index, feature_name=name
            )
        return Zone(polygons=tuple(_polygon(p, index, name) for p in coords), **common)
    if gtype == "Point":
        lat, lon = _position(coords, index, name)
        if "radius_m" not in props:
            raise GeofenceError(
                "a Point zone needs properties.radius_m", feature_index=index, feature_name=name
            )
        radius_m = _number(props["radius_m"], "radius_m", index, name)
        if radius_m <= 0:
            raise GeofenceError(
                f"radius_m must be positive, got {radius_m}", feature_index=index, feature_name=name
            )
        return Zone(circle=Circle(center_lat_deg=lat, center_lon_deg=lon, radius_m=radius_m), **common)
    raise GeofenceError(
        f"geometry type must be Polygon, MultiPolygon or Point (circle), got {gtype!r}",
        feature_index=index,
        feature_name=name,
    )


def _zone_to_feature(zone: Zone) -> dict[str, Any]:
    props: dict[str, Any] = {"kind": zone.kind.value}
    if zone.name is not None:
        props["name"] = zone.name
    if zone.floor_m is not None:
        props["floor_m"] = zone.floor_m
    if zone.ceiling_m is not None:
        props["ceiling_m"] = zone.ceiling_m
    if zone.circle is not None:
        props["radius_m"] = zone.circle.radius_m
        geometry = {"type": "Point", "coordinates": [zone.circle.center_lon_deg, zone.circle.center_lat_deg]}
    else:
        polys = [[[[lon, lat] for lat, lon in ring] for ring in poly] for poly in zone.polygons]
        geometry = (
            {"type": "Polygon", "coordinates": polys[0]}
            if len(polys) == 1
            else {"type": "MultiPolygon", "coordinates": polys}
        )
    return {"type": "Feature", "properties": props, "geometry": geometry}


def as_polygonal(geom: BaseGeometry) -> list[Polygon]:
    """Return the polygons of a (multi)polygon or geometry collection, dropping lines and points."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty else [geom]
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    if hasattr(geom, "geoms"):
        return [p for g in geom.geoms for p in as_polygonal(g)]
    return []
