"""The bundled shengsi scenario: contents, references and geometry."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from pyproj import Transformer
import shapely
from shapely import LineString, Point
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from controller.scenario import PARCEL_COLUMNS, Scenario, available_scenarios, read_sample_parcels

_TO_LOCAL = Transformer.from_crs(
    "EPSG:4326", "+proj=tmerc +lat_0=30.72 +lon_0=122.45 +ellps=WGS84", always_xy=True
).transform


def local(geom: BaseGeometry) -> BaseGeometry:
    """WGS84 [lon, lat] geometry -> local transverse Mercator metres."""
    return shapely.transform(geom, _TO_LOCAL, interleaved=False)


def point(obj) -> Point:
    return local(Point(obj.lon_deg, obj.lat_deg))


def zones(s: Scenario, kind: str) -> list[tuple[str, BaseGeometry]]:
    out = []
    for f in s.geofence["features"]:
        if f["properties"]["kind"] != kind:
            continue
        g = local(shape(f["geometry"]))
        if f["geometry"]["type"] == "Point":
            g = g.buffer(f["properties"]["radius_m"], quad_segs=32)
        out.append((f["properties"]["name"], g))
    return out


def test_shengsi_is_bundled() -> None:
    assert "shengsi" in available_scenarios()


def test_header(shengsi: Scenario) -> None:
    assert shengsi.name == "shengsi"
    assert shengsi.timezone == "Asia/Shanghai"
    assert shengsi.approximate is True
    assert shengsi.defaults.ceiling_m == 120
    assert shengsi.defaults.margin_m == 100


def test_required_places_exist(shengsi: Scenario) -> None:
    names = {sp.name for sp in shengsi.service_points}
    assert any("灯塔村" in n for n in names)
    assert any("大岙村" in n for n in names)
    by_kind = {}
    for sp in shengsi.service_points:
        by_kind.setdefault(sp.kind, set()).add(sp.island)
    assert shengsi.service_point("caiyuan-dc").kind == "county_centre"
    assert shengsi.service_point("caiyuan-dc").island == "sijiao"
    assert {"shengshan", "gouqi", "dayangshan", "huanglong", "huaniao", "luhua"} <= by_kind["township_station"]
    assert shengsi.service_point("dengta-village").island == "huaniao"
    assert shengsi.service_point("daao-village").island == "huanglong"


def test_every_station_has_a_pad_except_yangshan(shengsi: Scenario) -> None:
    for sp in shengsi.service_points:
        if sp.kind in ("county_centre", "township_station") and sp.id != "yangshan-station":
            assert sp.pad is not None, sp.id
            assert shengsi.pad(sp.pad).service_point == sp.id
    assert shengsi.service_point("yangshan-station").pad is None
    ferry_calls = {c.service_point for f in shengsi.ferry_lines for c in f.calls}
    assert "yangshan-station" in ferry_calls  # served by ferry only


def test_references_resolve(shengsi: Scenario) -> None:
    islands = {i.id for i in shengsi.islands}
    sps = {sp.id for sp in shengsi.service_points}
    pads = {p.id for p in shengsi.pads}
    lines = {b.id for b in shengsi.bus_lines}
    lockers = {lk.id for lk in shengsi.lockers}
    assert all(sp.island in islands and (sp.pad is None or sp.pad in pads) for sp in shengsi.service_points)
    assert all(p.island in islands and p.service_point in sps for p in shengsi.pads)
    assert all(d.home_pad in pads for d in shengsi.drones)
    for b in shengsi.bus_lines:
        assert b.island in islands and b.locker in lockers
        assert all(st.service_point is None or st.service_point in sps for st in b.stops)
    assert all(c.service_point in sps for f in shengsi.ferry_lines for c in f.calls)
    for lk in shengsi.lockers:
        assert (lk.bus_line in lines) if lk.kind == "bus" else (lk.service_point in sps)
    outline_ids = {f["properties"]["id"] for f in shengsi.island_outlines["features"]}
    assert outline_ids == islands


def test_fleet(shengsi: Scenario) -> None:
    sysids = [d.sysid for d in shengsi.drones]
    assert len(shengsi.drones) >= 8
    assert len(set(sysids)) == len(sysids) and min(sysids) >= 11
    for pad in shengsi.pads:
        homed = sum(d.home_pad == pad.id for d in shengsi.drones)
        assert homed <= pad.capacity, pad.id


def test_bus_lines_and_lockers(shengsi: Scenario) -> None:
    ends = {(b.stops[0].service_point, b.stops[-1].service_point) for b in shengsi.bus_lines}
    assert ("huaniao-station", "dengta-village") in ends
    assert any(b.island == "sijiao" for b in shengsi.bus_lines)
    huanglong = next(b for b in shengsi.bus_lines if b.island == "huanglong")
    assert "南港" in huanglong.stops[0].name and huanglong.stops[-1].service_point == "daao-village"
    for b in shengsi.bus_lines:
        locker = shengsi.locker(b.locker)
        assert locker.kind == "bus" and locker.bus_line == b.id
        assert [(bd.address, bd.locks) for bd in locker.boards] == [(1, 24)]
        assert sorted(c.lock for c in locker.compartments) == list(range(1, 25))
        assert {c.size for c in locker.compartments} == {"S", "M", "L"}
    fixed = {lk.service_point for lk in shengsi.lockers if lk.kind == "fixed"}
    assert {"dengta-village", "daao-village"} <= fixed


def test_ferry_lines(shengsi: Scenario) -> None:
    pairs = {(f.calls[0].service_point, c.service_point) for f in shengsi.ferry_lines for c in f.calls[1:]}
    assert ("wulong-station", "huanglong-station") in pairs
    for dest in ("huaniao-station", "luhua-station", "bixia-village", "gouqi-station", "shengshan-station"):
        assert ("caiyuan-dc", dest) in pairs, dest


def test_pads_inside_inclusion_and_clear_of_exclusions(shengsi: Scenario) -> None:
    (_, inclusion), = zones(shengsi, "inclusion")
    exclusions = zones(shengsi, "exclusion")
    margin = shengsi.defaults.margin_m
    for pad in shengsi.pads:
        p = point(pad)
        assert inclusion.contains(p.buffer(margin)), f"{pad.id} closer than {margin} m to the inclusion edge"
        for name, zone in exclusions:
            assert zone.distance(p) >= margin, f"{pad.id} within {margin} m of {name}"


def test_required_exclusions_exist(shengsi: Scenario) -> None:
    names = " ".join(n for n, _ in zones(shengsi, "exclusion"))
    for word in ("Yangshan", "Xiaocaiyuan", "Lühua international anchorage"):
        assert word in names


def test_yangshan_port_is_outside_the_operating_area(shengsi: Scenario) -> None:
    (_, inclusion), = zones(shengsi, "inclusion")
    port = local(Point(122.06, 30.615))
    assert not inclusion.contains(port)
    assert any(z.contains(port) for n, z in zones(shengsi, "exclusion") if "Yangshan" in n)


def test_some_direct_pad_route_must_detour(shengsi: Scenario) -> None:
    exclusions = zones(shengsi, "exclusion")
    blocked = [
        (a.id, b.id)
        for a, b in itertools.combinations(shengsi.pads, 2)
        if any(LineString([point(a), point(b)]).intersects(z) for _, z in exclusions)
    ]
    assert ("caiyuan", "huaniao") in blocked
    assert ("caiyuan", "luhua") in blocked
    assert len(blocked) < len(shengsi.pads) * (len(shengsi.pads) - 1) // 2  # not everything is blocked


def test_places_lie_on_their_islands(shengsi: Scenario) -> None:
    outlines = {f["properties"]["id"]: local(shape(f["geometry"])) for f in shengsi.island_outlines["features"]}
    assert all(g.is_valid for g in outlines.values())
    for obj in (*shengsi.service_points, *shengsi.pads):
        d = outlines[obj.island].distance(point(obj))
        assert d <= 2000, f"{obj.id} is {d:.0f} m off {obj.island}"
    for b in shengsi.bus_lines:
        for st in b.stops:
            assert outlines[b.island].distance(point(st)) <= 2000, st.id


def test_geography_matches_domain_facts(shengsi: Scenario) -> None:
    """Label positions agree with the DOMAIN-FACTS table to within 2 km."""
    facts = {
        "caiyuan-dc": (30.72, 122.45), "huanglong-station": (30.667, 122.55), "luhua-station": (30.825, 122.616),
        "huaniao-station": (30.846, 122.684), "gouqi-station": (30.712, 122.77), "shengshan-station": (30.71, 122.83),
    }
    for sp_id, (lat, lon) in facts.items():
        assert point(shengsi.service_point(sp_id)).distance(local(Point(lon, lat))) < 2000, sp_id
    caiyuan = point(shengsi.service_point("caiyuan-dc"))
    assert 10_000 < caiyuan.distance(point(shengsi.service_point("huanglong-station"))) < 14_000
    assert 33_000 < caiyuan.distance(local(Point(122.06, 30.615))) < 42_000


def test_sample_parcels(shengsi: Scenario) -> None:
    rows = read_sample_parcels("shengsi")
    assert 35 <= len(rows) <= 50
    assert tuple(rows[0]) == PARCEL_COLUMNS
    sps = {sp.id for sp in shengsi.service_points}
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["origin"] in sps and r["destination"] in sps and r["origin"] != r["destination"]
        ready, due = datetime.fromisoformat(r["ready_at"]), datetime.fromisoformat(r["due_at"])
        assert ready.utcoffset() == due.utcoffset() == timedelta(hours=8)
        assert ready.date().isoformat() == "2026-12-01" and due > ready
        assert r["direction"] in ("up", "down") and r["priority"] in ("1", "2", "3")
        assert float(r["weight_kg"]) > 0 and all(int(r[c]) > 0 for c in ("length_cm", "width_cm", "height_cm"))
        assert r["recipient_phone"].startswith("138-0000-")
        if r["direction"] == "up":
            assert r["destination"] == "caiyuan-dc" and due - ready <= timedelta(hours=6)
        else:
            assert r["origin"] == "caiyuan-dc"
    assert sum(float(r["weight_kg"]) > 5 for r in rows) >= 3
    assert {"up", "down"} == {r["direction"] for r in rows}
