"""Load and validate a bundled scenario (islands, pads, drones, buses, ferries, lockers).

A scenario is a directory ``controller/scenarios/<name>/`` shipped as package data::

    network.json          islands, service points, pads, drones, bus/ferry lines, lockers, defaults
    geofence.geojson      FeatureCollection; properties.kind = "inclusion" | "exclusion"
    islands.geojson       FeatureCollection of island outlines; properties.id = network islands[].id
    parcels-sample.csv    sample demand (read with :func:`read_sample_parcels`)

All coordinates are WGS84 degrees (``lat_deg``/``lon_deg`` in JSON, ``[lon, lat]`` in GeoJSON).
Everything is validated at load time: value ranges, unique ids, and that every cross-reference
resolves. Any problem raises :class:`ScenarioError` naming the file and the offending field.

>>> s = load_scenario("shengsi")
>>> s.pad("caiyuan").service_point
'caiyuan-dc'
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "BusLine",
    "BusStop",
    "Compartment",
    "Defaults",
    "Drone",
    "FerryCall",
    "FerryLine",
    "Island",
    "Locker",
    "LockerBoard",
    "Pad",
    "PARCEL_COLUMNS",
    "Scenario",
    "ScenarioError",
    "ServicePoint",
    "available_scenarios",
    "load_scenario",
    "read_sample_parcels",
]

NETWORK_FILE = "network.json"
GEOFENCE_FILE = "geofence.geojson"
ISLANDS_FILE = "islands.geojson"
PARCELS_FILE = "parcels-sample.csv"

#: Exact column order of ``parcels-sample.csv``.
PARCEL_COLUMNS: tuple[str, ...] = (
    "id", "origin", "destination", "weight_kg", "length_cm", "width_cm", "height_cm", "priority",
    "ready_at", "due_at", "direction", "recipient_name", "recipient_phone", "kind",
)


class ScenarioError(Exception):
    """A scenario is missing or one of its files is invalid.

    Attributes:
        scenario: scenario name.
        file: file name inside the scenario directory (``None`` if the scenario itself is missing).
        field: dotted path of the offending field, e.g. ``pads[2].service_point`` (may be ``None``).
        problem: what is wrong.
    """

    def __init__(self, *, scenario: str, file: str | None, field: str | None, problem: str) -> None:
        self.scenario = scenario
        self.file = file
        self.field = field
        self.problem = problem
        where = f"scenario {scenario!r}"
        if file:
            where += f", {file}"
        if field:
            where += f", field {field}"
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------- value types

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError(f"departure {value!r} is not a 24-hour 'HH:MM' time")
    return value


Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]
Id = Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Island(_Frozen):
    id: Id
    name: str
    name_en: str


class ServicePoint(_Frozen):
    id: Id
    name: str
    name_en: str
    kind: Literal["county_centre", "township_station", "village_point"]
    island: str
    lat_deg: Latitude
    lon_deg: Longitude
    pad: str | None = None


class Pad(_Frozen):
    id: Id
    name: str
    name_en: str
    island: str
    service_point: str
    lat_deg: Latitude
    lon_deg: Longitude
    alt_amsl_m: float
    capacity: Annotated[int, Field(ge=1)]


class Drone(_Frozen):
    id: Id
    name: str
    model: Literal["island-hauler-5", "island-courier-2"]
    home_pad: str
    sysid: Annotated[int, Field(ge=1, le=255)]


class BusStop(_Frozen):
    id: Id
    name: str
    name_en: str
    lat_deg: Latitude
    lon_deg: Longitude
    service_point: str | None = None


class BusLine(_Frozen):
    id: Id
    name: str
    name_en: str
    island: str
    stops: Annotated[tuple[BusStop, ...], Field(min_length=2)]
    departures: Annotated[tuple[HHMM, ...], Field(min_length=1)]  # local time, from the first stop
    trip_minutes: Annotated[int, Field(ge=1)]
    capacity_boxes: Annotated[int, Field(ge=1)]
    locker: str


class FerryCall(_Frozen):
    service_point: str
    name: str
    lat_deg: Latitude
    lon_deg: Longitude
    minutes_from_start: Annotated[int, Field(ge=0)]


class FerryLine(_Frozen):
    id: Id
    name: str
    name_en: str
    calls: Annotated[tuple[FerryCall, ...], Field(min_length=2)]
    departures: Annotated[tuple[HHMM, ...], Field(min_length=1)]
    capacity_boxes: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _calls_in_time_order(self) -> FerryLine:
        if self.calls[0].minutes_from_start != 0:
            raise ValueError("calls[0].minutes_from_start: the first call must be at minute 0")
        for i, (a, b) in enumerate(zip(self.calls, self.calls[1:]), start=1):
            if b.minutes_from_start <= a.minutes_from_start:
                raise ValueError(f"calls[{i}].minutes_from_start: must increase along the line")
        return self


class LockerBoard(_Frozen):
    address: Annotated[int, Field(ge=1, le=255)]
    locks: Annotated[int, Field(ge=1, le=255)]


class Compartment(_Frozen):
    board: int
    lock: Annotated[int, Field(ge=1)]
    size: Literal["S", "M", "L"]


class Locker(_Frozen):
    id: Id
    kind: Literal["bus", "fixed"]
    name: str
    bus_line: str | None = None
    service_point: str | None = None
    boards: Annotated[tuple[LockerBoard, ...], Field(min_length=1)]
    compartments: Annotated[tuple[Compartment, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Locker:
        if self.kind == "bus" and (self.bus_line is None or self.service_point is not None):
            raise ValueError("a bus locker needs bus_line and no service_point")
        if self.kind == "fixed" and (self.service_point is None or self.bus_line is not None):
            raise ValueError("a fixed locker needs service_point and no bus_line")
        _no_duplicates("boards", (b.address for b in self.boards), "address")
        locks = {b.address: b.locks for b in self.boards}
        seen: set[tuple[int, int]] = set()
        for i, c in enumerate(self.compartments):
            if c.board not in locks:
                raise ValueError(f"compartments[{i}].board: no board with address {c.board}")
            if c.lock > locks[c.board]:
                raise ValueError(
                    f"compartments[{i}].lock: lock {c.lock} > board {c.board}'s {locks[c.board]} locks"
                )
            if (c.board, c.lock) in seen:
                raise ValueError(f"compartments[{i}]: duplicate (board {c.board}, lock {c.lock})")
            seen.add((c.board, c.lock))
        return self


class Defaults(_Frozen):
    reserve_fraction: Annotated[float, Field(ge=0.0, lt=1.0)]
    margin_m: Annotated[float, Field(ge=0.0)]
    cruise_alt_m: Annotated[float, Field(gt=0.0)]
    min_cruise_alt_m: Annotated[float, Field(gt=0.0)]
    ceiling_m: Annotated[float, Field(gt=0.0)]
    pickup_code_ttl_h: Annotated[float, Field(gt=0.0)]

    @model_validator(mode="after")
    def _altitudes_ordered(self) -> Defaults:
        if not self.min_cruise_alt_m <= self.cruise_alt_m <= self.ceiling_m:
            raise ValueError("need min_cruise_alt_m <= cruise_alt_m <= ceiling_m")
        return self


def _no_duplicates(collection: str, ids: Iterable[Any], what: str = "id") -> None:
    dupes = sorted(str(k) for k, n in Counter(ids).items() if n > 1)
    if dupes:
        raise ValueError(f"{collection}: duplicate {what} {', '.join(dupes)}")


class Network(_Frozen):
    """The contents of ``network.json``, with every cross-reference checked."""

    name: Id
    title: str
    timezone: str
    approximate: bool
    islands: tuple[Island, ...]
    service_points: tuple[ServicePoint, ...]
    pads: tuple[Pad, ...]
    drones: tuple[Drone, ...]
    bus_lines: tuple[BusLine, ...]
    ferry_lines: tuple[FerryLine, ...]
    lockers: tuple[Locker, ...]
    defaults: Defaults

    @model_validator(mode="after")
    def _references_resolve(self) -> Network:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        for name in ("islands", "service_points", "pads", "drones", "bus_lines", "ferry_lines", "lockers"):
            _no_duplicates(name, (x.id for x in getattr(self, name)))
        _no_duplicates("drones", (d.sysid for d in self.drones), "sysid")
        _no_duplicates("bus stops", (s.id for b in self.bus_lines for s in b.stops))

        islands = {i.id for i in self.islands}
        sps = {s.id: s for s in self.service_points}
        pads = {p.id: p for p in self.pads}
        lines = {b.id for b in self.bus_lines}
        lockers = {lk.id: lk for lk in self.lockers}

        def need(ok: bool, field: str, what: str, value: object) -> None:
            if not ok:
                raise ValueError(f"{field}: unknown {what} {value!r}")

        for i, s in enumerate(self.service_points):
            need(s.island in islands, f"service_points[{i}].island", "island", s.island)
            if s.pad is not None:
                need(s.pad in pads, f"service_points[{i}].pad", "pad", s.pad)
                if pads[s.pad].service_point != s.id:
                    raise ValueError(f"service_points[{i}].pad: pad {s.pad!r} belongs to another service point")
        for i, p in enumerate(self.pads):
            need(p.island in islands, f"pads[{i}].island", "island", p.island)
            need(p.service_point in sps, f"pads[{i}].service_point", "service point", p.service_point)
            if sps[p.service_point].pad != p.id:
                raise ValueError(f"pads[{i}].service_point: service point {p.service_point!r} names another pad")
        for i, d in enumerate(self.drones):
            need(d.home_pad in pads, f"drones[{i}].home_pad", "pad", d.home_pad)
        for i, b in enumerate(self.bus_lines):
            need(b.island in islands, f"bus_lines[{i}].island", "island", b.island)
            need(b.locker in lockers, f"bus_lines[{i}].locker", "locker", b.locker)
            if lockers[b.locker].bus_line != b.id:
                raise ValueError(f"bus_lines[{i}].locker: locker {b.locker!r} is not on this line")
            for j, st in enumerate(b.stops):
                if st.service_point is not None:
                    need(st.service_point in sps, f"bus_lines[{i}].stops[{j}].service_point",
                         "service point", st.service_point)
        for i, f in enumerate(self.ferry_lines):
            for j, c in enumerate(f.calls):
                need(c.service_point in sps, f"ferry_lines[{i}].calls[{j}].service_point",
                     "service point", c.service_point)
        for i, lk in enumerate(self.lockers):
            if lk.bus_line is not None:
                need(lk.bus_line in lines, f"lockers[{i}].bus_line", "bus line", lk.bus_line)
            if lk.service_point is not None:
                need(lk.service_point in sps, f"lockers[{i}].service_point", "service point", lk.service_point)
        return self


class Scenario(Network):
    """A loaded scenario: the network plus its GeoJSON layers (as plain dicts, WGS84 ``[lon, lat]``)."""

    geofence: dict[str, Any]
    island_outlines: dict[str, Any]

    def pad(self, pad_id: str) -> Pad:
        """Return the pad with this id.

        Raises:
            KeyError: no such pad.
        """
        return _find(self.pads, pad_id, "pad")

    def service_point(self, service_point_id: str) -> ServicePoint:
        """Return the service point with this id.

        Raises:
            KeyError: no such service point.
        """
        return _find(self.service_points, service_point_id, "service point")

    def island(self, island_id: str) -> Island:
        """Return the island with this id.

        Raises:
            KeyError: no such island.
        """
        return _find(self.islands, island_id, "island")

    def locker(self, locker_id: str) -> Locker:
        """Return the locker with this id.

        Raises:
            KeyError: no such locker.
        """
        return _find(self.lockers, locker_id, "locker")


def _find(items: Iterable[Any], item_id: str, what: str) -> Any:
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"no {what} {item_id!r}")


# --------------------------------------------------------------------------- loading


def _root() -> Traversable:
    return resources.files("controller") / "scenarios"


def available_scenarios() -> list[str]:
    """Return the names of the bundled scenarios (directories holding a ``network.json``), sorted."""
    root = _root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / NETWORK_FILE).is_file())


def _read_json(scenario: str, directory: Traversable, file: str) -> Any:
    path = directory / file
    if not path.is_file():
        raise ScenarioError(scenario=scenario, file=file, field=None, problem="file is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(scenario=scenario, file=file, field=None,
                            problem=f"not valid JSON: {exc}") from exc


def _loc(parts: Iterable[int | str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _error_from_validation(scenario: str, file: str, exc: ValidationError) -> ScenarioError:
    err = exc.errors(include_url=False)[0]
    field = _loc(err["loc"]) or None
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Our model validators put the field path at the front of the message ("pads[2].island: ...").
    m = re.match(r"^([\w\[\]\.]+): (.*)$", msg, re.S)
    if m and ("[" in m.group(1) or "." in m.group(1) or m.group(1) in Network.model_fields):
        field = f"{field}.{m.group(1)}" if field else m.group(1)
        msg = m.group(2)
    if err["type"] not in ("value_error", "assertion_error") and "input" in err:
        msg = f"{msg} (got {err['input']!r})"
    if field and field.endswith(("lat_deg", "lon_deg")) and err["type"].startswith(("less_than", "greater_than")):
        msg += " — are latitude and longitude swapped?"
    extra = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return ScenarioError(scenario=scenario, file=file, field=field, problem=msg + extra)


def _check_lon_lat(scenario: str, file: str, field: str, coords: Any) -> None:
    """Recursively check a GeoJSON coordinate array ([lon, lat] pairs)."""
    if isinstance(coords, list) and coords and all(isinstance(c, (int, float)) for c in coords):
        if len(coords) < 2:
            raise ScenarioError(scenario=scenario, file=file, field=field, problem="position needs [lon, lat]")
        lon, lat = coords[0], coords[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ScenarioError(scenario=scenario, file=file, field=field,
                                problem=f"position {coords!r} is not [lon, lat] in degrees")
        return
    if not isinstance(coords, list) or not coords:
        raise ScenarioError(scenario=scenario, file=file, field=field, problem="empty or malformed coordinates")
    for c in coords:
        _check_lon_lat(scenario, file, field, c)


def _features(scenario: str, file: str, doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(
        doc.get("features"), list
    ):
        raise ScenarioError(scenario=scenario, file=file, field="type", problem="expected a GeoJSON FeatureCollection")
    for i, f in enumerate(doc["features"]):
        geom = f.get("geometry") if isinstance(f, dict) else None
        if not isinstance(geom, dict) or not isinstance(f.get("properties"), dict):
            raise ScenarioError(scenario=scenario, file=file, field=f"features[{i}]",
                                problem="feature needs geometry and properties")
        if geom.get("type") not in ("Point", "Polygon", "MultiPolygon"):
            raise ScenarioError(scenario=scenario, file=file, field=f"features[{i}].geometry.type",
                                problem=f"unsupported geometry {geom.get('type')!r}")
        _check_lon_lat(scenario, file, f"features[{i}].geometry.coordinates", geom.get("coordinates"))
    return doc["features"]


def _check_geofence(scenario: str, doc: Any) -> None:
    features = _features(scenario, GEOFENCE_FILE, doc)
    kinds = Counter()
    for i, f in enumerate(features):
        props, geom = f["properties"], f["geometry"]
        field = f"features[{i}].properties"
        kind = props.get("kind")
        if kind not in ("inclusion", "exclusion"):
            raise ScenarioError(scenario=scenario, file=GEOFENCE_FILE, field=f"{field}.kind",
                                problem=f"kind must be 'inclusion' or 'exclusion', got {kind!r}")
        kinds[kind] += 1
        if not isinstance(props.get("name"), str) or not props["name"]:
            raise ScenarioError(scenario=scenario, file=GEOFENCE_FILE, field=f"{field}.name", problem="name is required")
        if geom["type"] == "Point":
            r = props.get("radius_m")
            if not isinstance(r, (int, float)) or r <= 0:
                raise ScenarioError(scenario=scenario, file=GEOFENCE_FILE, field=f"{field}.radius_m",
                                    problem="a Point (circle) zone needs a positive radius_m")
        for key in ("floor_m", "ceiling_m"):
            if key in props and not isinstance(props[key], (int, float)):
                raise ScenarioError(scenario=scenario, file=GEOFENCE_FILE, field=f"{field}.{key}",
                                    problem=f"{key} must be a number of metres")
    if kinds["inclusion"] == 0:
        raise ScenarioError(scenario=scenario, file=GEOFENCE_FILE, field="features",
                            problem="no inclusion (operating area) feature")


def _check_islands(scenario: str, doc: Any, network: Network) -> None:
    features = _features(scenario, ISLANDS_FILE, doc)
    ids = [f["properties"].get("id") for f in features]
    try:
        _no_duplicates("features", ids, "properties.id")
    except ValueError as exc:
        raise ScenarioError(scenario=scenario, file=ISLANDS_FILE, field="features", problem=str(exc)) from None
    known = {i.id for i in network.islands}
    for i, island_id in enumerate(ids):
        if island_id not in known:
            raise ScenarioError(scenario=scenario, file=ISLANDS_FILE, field=f"features[{i}].properties.id",
                                problem=f"island {island_id!r} is not listed in {NETWORK_FILE}")
    missing = sorted(known - set(ids))
    if missing:
        raise ScenarioError(scenario=scenario, file=ISLANDS_FILE, field="features",
                            problem=f"no outline for island(s) {', '.join(missing)}")


def _scenario_dir(name: str, root: Traversable | os.PathLike[str] | None) -> Traversable:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise ScenarioError(scenario=name, file=None, field=None, problem="not a valid scenario name")
    base = _root() if root is None else (root if isinstance(root, Traversable) else Path(root))
    directory = base / name
    if not (directory / NETWORK_FILE).is_file():
        raise ScenarioError(scenario=name, file=None, field=None,
                            problem=f"no such scenario (available: {', '.join(available_scenarios()) or 'none'})")
    return directory


def load_scenario(name: str, *, root: Traversable | os.PathLike[str] | None = None) -> Scenario:
    """Load and validate the bundled scenario ``name``.

    Parameters:
        name: directory name under ``controller/scenarios/`` (e.g. ``"shengsi"``).
        root: directory holding scenario directories instead of the bundled package data
            (for a user-supplied or test copy).

    Returns:
        The frozen :class:`Scenario`.

    Raises:
        ScenarioError: the scenario does not exist, or a file is missing or invalid; the message
            names the file and the offending field.
    """
    directory = _scenario_dir(name, root)
    raw = _read_json(name, directory, NETWORK_FILE)
    try:
        network = Network.model_validate(raw)
    except ValidationError as exc:
        raise _error_from_validation(name, NETWORK_FILE, exc) from None
    geofence = _read_json(name, directory, GEOFENCE_FILE)
    _check_geofence(name, geofence)
    outlines = _read_json(name, directory, ISLANDS_FILE)
    _check_islands(name, outlines, network)
    return Scenario(**dict(network), geofence=geofence, island_outlines=outlines)


def read_sample_parcels(
    name: str, *, root: Traversable | os.PathLike[str] | None = None
) -> list[dict[str, str]]:
    """Read ``parcels-sample.csv`` of scenario ``name`` as rows of strings (column order: PARCEL_COLUMNS).

    Raises:
        ScenarioError: the file is missing or its header is not exactly :data:`PARCEL_COLUMNS`.
    """
    path = _scenario_dir(name, root) / PARCELS_FILE
    if not path.is_file():
        raise ScenarioError(scenario=name, file=PARCELS_FILE, field=None, problem="file is missing")
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != PARCEL_COLUMNS:
            raise ScenarioError(scenario=name, file=PARCELS_FILE, field="header",
                                problem=f"columns must be {','.join(PARCEL_COLUMNS)}")
        return list(reader)
