"""The loader refuses broken scenario copies with a message naming the file and the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.scenario import ScenarioError, load_scenario, read_sample_parcels

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    """A writable copy of the bundled shengsi scenario under tmp_path/shengsi."""
    src = resources.files("controller") / "scenarios" / "shengsi"
    dst = tmp_path / "shengsi"
    dst.mkdir()
    for item in src.iterdir():
        if item.is_file():
            (dst / item.name).write_bytes(item.read_bytes())
    return tmp_path


def edit(root: Path, file: str, change: Edit) -> None:
    path = root / "shengsi" / file
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def reject(root: Path) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario("shengsi", root=root)
    return info.value


def test_unmodified_copy_loads(copy_root: Path) -> None:
    assert load_scenario("shengsi", root=copy_root) == load_scenario("shengsi")


def test_dangling_drone_home_pad(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["drones"][2].update(home_pad="atlantis"))
    err = reject(copy_root)
    assert err.file == "network.json"
    assert err.field == "drones[2].home_pad"
    assert "atlantis" in str(err) and "network.json" in str(err)


def test_dangling_service_point_on_ferry_call(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["ferry_lines"][1]["calls"][1].update(service_point="nowhere"))
    err = reject(copy_root)
    assert err.field == "ferry_lines[1].calls[1].service_point"
    assert "nowhere" in err.problem


def test_lat_lon_swapped(copy_root: Path) -> None:
    def swap(d: dict[str, Any]) -> None:
        pad = d["pads"][3]
        pad["lat_deg"], pad["lon_deg"] = pad["lon_deg"], pad["lat_deg"]

    edit(copy_root, "network.json", swap)
    err = reject(copy_root)
    assert err.file == "network.json"
    assert err.field == "pads[3].lat_deg"
    assert "90" in err.problem and "swapped" in err.problem


def test_ferry_calls_out_of_order(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["ferry_lines"][2]["calls"][2].update(minutes_from_start=10))
    err = reject(copy_root)
    assert err.field == "ferry_lines[2].calls[2].minutes_from_start"


def test_unknown_timezone(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d.update(timezone="Mars/Olympus"))
    assert reject(copy_root).field == "timezone"


def test_lat_lon_swapped_in_geojson(copy_root: Path) -> None:
    def swap(d: dict[str, Any]) -> None:
        ring = d["features"][0]["geometry"]["coordinates"][0]
        ring[1] = [ring[1][1], ring[1][0] + 100]  # [lat, lon] with an impossible "lat"

    edit(copy_root, "geofence.geojson", swap)
    err = reject(copy_root)
    assert err.file == "geofence.geojson"
    assert err.field == "features[0].geometry.coordinates"


def test_duplicate_ids(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["pads"].append(dict(d["pads"][0])))
    err = reject(copy_root)
    assert err.field == "pads" and "caiyuan" in err.problem


def test_duplicate_sysid(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["drones"][1].update(sysid=d["drones"][0]["sysid"]))
    assert "sysid" in reject(copy_root).problem


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda c: c.append({"board": 1, "lock": 1, "size": "S"}), "duplicate"),
        (lambda c: c.__setitem__(0, {"board": 1, "lock": 25, "size": "S"}), "lock 25"),
        (lambda c: c.__setitem__(0, {"board": 2, "lock": 1, "size": "S"}), "board"),
    ],
)
def test_bad_compartments(copy_root: Path, change: Callable[[list], None], needle: str) -> None:
    edit(copy_root, "network.json", lambda d: change(d["lockers"][0]["compartments"]))
    err = reject(copy_root)
    assert err.field is not None and err.field.startswith("lockers[0]")
    assert needle in err.problem


@pytest.mark.parametrize("bad", ["7:30", "24:00", "07:60", "0730"])
def test_bad_departure_time(copy_root: Path, bad: str) -> None:
    edit(copy_root, "network.json", lambda d: d["bus_lines"][0]["departures"].__setitem__(1, bad))
    err = reject(copy_root)
    assert err.field == "bus_lines[0].departures[1]"
    assert "HH:MM" in err.problem


def test_unknown_field_is_rejected(copy_root: Path) -> None:
    edit(copy_root, "network.json", lambda d: d["pads"][0].update(altitude=5))
    assert reject(copy_root).field == "pads[0].altitude"


def test_island_outline_must_match_network(copy_root: Path) -> None:
    edit(copy_root, "islands.geojson", lambda d: d["features"][0]["properties"].update(id="sijiao2"))
    err = reject(copy_root)
    assert err.file == "islands.geojson" and "sijiao2" in err.problem


def test_geofence_kind_and_circle_radius(copy_root: Path) -> None:
    edit(copy_root, "geofence.geojson", lambda d: d["features"][1]["properties"].update(kind="nofly"))
    assert reject(copy_root).field == "features[1].properties.kind"
    edit(copy_root, "geofence.geojson", lambda d: d["features"][1]["properties"].update(kind="exclusion"))
    edit(copy_root, "geofence.geojson",
         lambda d: next(f for f in d["features"] if f["geometry"]["type"] == "Point")["properties"].pop("radius_m"))
    assert reject(copy_root).field.endswith(".radius_m")


def test_missing_file_and_bad_json(copy_root: Path) -> None:
    (copy_root / "shengsi" / "islands.geojson").unlink()
    err = reject(copy_root)
    assert err.file == "islands.geojson" and "missing" in err.problem
    (copy_root / "shengsi" / "network.json").write_text("{", encoding="utf-8")
    assert reject(copy_root).file == "network.json"


def test_unknown_scenario() -> None:
    with pytest.raises(ScenarioError, match="shengsi"):  # lists what is available
        load_scenario("atlantis")


def test_parcels_header_checked(copy_root: Path) -> None:
    path = copy_root / "shengsi" / "parcels-sample.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0].replace("weight_kg", "weight")] + lines[1:]), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        read_sample_parcels("shengsi", root=copy_root)
    assert info.value.file == "parcels-sample.csv"


def test_scenario_is_frozen() -> None:
    s = load_scenario("shengsi")
    with pytest.raises(ValidationError):
        s.pads[0].lat_deg = 0.0  # type: ignore[misc]
