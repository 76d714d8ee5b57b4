import math

import pytest

from flight_plans import Geofence, GeofenceError, ZoneKind

from .helpers import area, fence, lat_lon, polygon_feature, square


def test_parses_kinds_bands_and_circles():
    lat, lon = lat_lon(1000, 1000)
    circle = {
        "type": "Feature",
        "properties": {"kind": "exclusion", "name": "mast", "radius_m": 200, "floor_m": 0, "ceiling_m": 80},
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }
    g = Geofence.from_geojson(
        fence(area(), polygon_feature("exclusion", square(-2000, 0, 300), name="port"), circle)
    )
    assert [z.kind for z in g.zones] == [ZoneKind.INCLUSION, ZoneKind.EXCLUSION, ZoneKind.EXCLUSION]
    mast = g.zones[2]
    assert mast.circle.radius_m == 200
    assert mast.applies_between(60, 60) and not mast.applies_between(90, 100)
    # The exclusion stand-in polygon contains the true circle; the geodesic radius is kept.
    geom = g.zone_geometry_m(mast)
    cx, cy = g.projection.to_xy(lat, lon)
    assert all(math.hypot(x - cx, y - cy) >= 200 - 1e-6 for x, y in geom.exterior.coords)
    assert geom.area > math.pi * 200**2


def test_round_trips_through_geojson():
    lat, lon = lat_lon(0, 0)
    obj = fence(
        area(),
        polygon_feature("exclusion", square(100, 100, 50), name="a", floor_m=10.0, ceiling_m=50.0),
        {
            "type": "Feature",
            "properties": {"kind": "exclusion", "radius_m": 30.0},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        },
    )
    g = Geofence.from_geojson(obj)
    again = Geofence.from_geojson(g.to_geojson())
    assert again.zones == g.zones


@pytest.mark.parametrize(
    ("bad_feature", "words"),
    [
        (
            polygon_feature("exclusion", [(0, 0), (100, 100), (100, 0), (0, 100)], name="bowtie"),
            ["bowtie", "self-intersect"],
        ),
        (polygon_feature("forbidden", square(0, 0, 10), name="oops"), ["oops", "kind"]),
        (
            {
                "type": "Feature",
                "properties": {"kind": "exclusion", "name": "swapped"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[30.7, 122.5], [30.71, 122.5], [30.71, 122.51], [30.7, 122.5]]],
                },
            },
            ["swapped", "off the globe"],
        ),
        (
            {
                "type": "Feature",
                "properties": {"kind": "exclusion", "name": "dot"},
                "geometry": {"type": "Point", "coordinates": [122.5, 30.7]},
            },
            ["dot", "radius_m"],
        ),
        (
            polygon_feature("exclusion", square(0, 0, 10), name="upside", floor_m=50, ceiling_m=10),
            ["upside", "floor_m"],
        ),
    ],
)
def test_invalid_features_name_the_feature(bad_feature, words):
    with pytest.raises(GeofenceError) as info:
        Geofence.from_geojson(fence(area(), bad_feature))
    assert info.value.feature_index == 1
    for word in words:
        assert word in str(info.value)


def test_empty_collection_and_no_inclusion_are_rejected():
    with pytest.raises(GeofenceError, match="no features"):
        Geofence.from_geojson(fence())
    with pytest.raises(GeofenceError, match="no inclusion"):
        Geofence.from_geojson(fence(polygon_feature("exclusion", square(0, 0, 10))))
