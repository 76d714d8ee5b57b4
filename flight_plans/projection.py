"""Local metric frame: a transverse Mercator centred on the area, and geodesic lengths on WGS84.

Geometry is computed in metres in the local frame (scale error below ~1e-5 within ~40 km of the
centre, see DOMAIN-FACTS) and converted to WGS84 only at the edges. Lengths shown to users are
geodesic, measured on the WGS84 ellipsoid with :class:`pyproj.Geod`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pyproj import Geod, Transformer

from flight_plans.errors import CoordinateError

WGS84_GEOD = Geod(ellps="WGS84")


def check_lat_lon(what: str, lat_deg: float, lon_deg: float) -> None:
    """Raise :class:`CoordinateError` unless ``lat_deg`` is in [-90, 90] and ``lon_deg`` in [-180, 180]."""
    try:
        ok = -90.0 <= float(lat_deg) <= 90.0 and -180.0 <= float(lon_deg) <= 180.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise CoordinateError(what, lat_deg, lon_deg)


@dataclass(frozen=True, kw_only=True)
class LocalProjection:
    """A transverse Mercator frame centred on (``lat0_deg``, ``lon0_deg``); x east, y north, metres."""

    lat0_deg: float
    lon0_deg: float
    _fwd: Transformer = field(init=False, repr=False, compare=False)
    _inv: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crs = (
            f"+proj=tmerc +lat_0={self.lat0_deg!r} +lon_0={self.lon0_deg!r} +k=1 +x_0=0 +y_0=0"
            " +ellps=WGS84 +units=m +no_defs"
        )
        object.__setattr__(self, "_fwd", Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        object.__setattr__(self, "_inv", Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    def to_xy(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Project a WGS84 point (degrees) to local (x_m east, y_m north)."""
        x_m, y_m = self._fwd.transform(lon_deg, lat_deg)
        return float(x_m), float(y_m)

    def to_lat_lon(self, x_m: float, y_m: float) -> tuple[float, float]:
        """Unproject local metres to WGS84 (lat_deg, lon_deg)."""
        lon_deg, lat_deg = self._inv.transform(x_m, y_m)
        return float(lat_deg), float(lon_deg)

    def lon_lat_to_xy_many(self, lon_deg: Sequence[float], lat_deg: Sequence[float]):
        """Project arrays of longitudes/latitudes (degrees); returns arrays (x_m, y_m)."""
        return self._fwd.transform(lon_deg, lat_deg)

    def xy_to_lon_lat_many(self, x_m: Sequence[float], y_m: Sequence[float]):
        """Unproject arrays of local metres; returns arrays (lon_deg, lat_deg)."""
        return self._inv.transform(x_m, y_m)


def geodesic_length_m(points_lat_lon_deg: Iterable[tuple[float, float]]) -> float:
    """Return the geodesic length in metres (WGS84) of a polyline given as (lat_deg, lon_deg) pairs."""
    pts = list(points_lat_lon_deg)
    if len(pts) < 2:
        return 0.0
    lats = [p[0] for p in pts]
    lons = [p[1] for p in pts]
    return float(WGS84_GEOD.line_length(lons, lats))


def geodesic_distance_m(a_lat_lon_deg: tuple[float, float], b_lat_lon_deg: tuple[float, float]) -> float:
    """Return the geodesic distance in metres between two (lat_deg, lon_deg) points."""
    return geodesic_length_m([a_lat_lon_deg, b_lat_lon_deg])
