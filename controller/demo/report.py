"""The demo report: every number is computed here, from the database, in one place.

A report folder holds ``index.html`` (the numbers), ``map.png`` (islands, no-fly zones, pads, bus
lines and every sortie track), ``charts/*.png`` and ``parcels.csv`` (one row per parcel journey).

Definitions used throughout:

- a parcel is **delivered** at the first tracking event that puts it at its destination
  (``at_service_point`` or ``at_locker`` with ``place_id`` = destination, or ``picked_up``);
- it is **on time** when delivered no later than its ``due_at`` (parcels without a due time count as
  on time when delivered); the on-time rate is on-time / delivered;
- its **modes** are the in-transit states it went through, in order (drone, ferry, bus);
- a **fallback** is a parcel put on a surface-only leg (``surface_legs`` ids ``L…``), with the reason.
"""

from __future__ import annotations

import csv
import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import (
    AuditEntry, Geofence, Island, Pad, Parcel, Sortie, SortieTransition, SurfaceLeg, TrackingEvent, TrackPoint, TransportLine,
)

DELIVERED_STATES = ("at_service_point", "at_locker", "picked_up")
MODE_OF_STATE = {"in_transit_drone": "drone", "in_transit_ferry": "ferry", "in_transit_bus": "bus"}


@dataclass(frozen=True, kw_only=True)
class Journey:
    parcel_id: str
    direction: str
    kind: str
    origin: str
    destination: str
    modes: tuple[str, ...]
    state: str
    created_at: datetime
    due_at: datetime | None
    delivered_at: datetime | None
    on_time: bool | None
    states: tuple[tuple[str, datetime, str | None], ...]


@dataclass(kw_only=True)
class ReportData:
    """All numbers of a report."""

    journeys: list[Journey]
    by_state: Counter[str]
    by_direction: Counter[str]
    delivered_by_direction: Counter[str]
    on_time_by_direction: Counter[str]
    by_mode: Counter[str]  # delivered parcels by their mode chain ("drone", "ferry", "bus+drone" …)
    sortie_states: Counter[str]
    sorties_flown: int
    energy_wh: dict[str, float]  # completed sortie -> planned energy (Wh)
    measured_energy_wh: dict[str, float]  # completed sortie -> battery used per telemetry (Wh)
    fallbacks: Counter[str]  # reason -> parcels put on surface-only legs
    auto_approved: int  # approvals given by the auto-approver
    auto_approve_enabled: bool
    delivered_per_hour: dict[str, Counter[int]] = field(default_factory=dict)  # direction -> local hour -> n

    @property
    def delivered(self) -> int:
        return sum(self.delivered_by_direction.values())

    @property
    def on_time(self) -> int:
        return sum(self.on_time_by_direction.values())

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.delivered if self.delivered else None


def compute(session: Session, *, tz: ZoneInfo) -> ReportData:
    """Read the database and compute every number of the report."""
    events: dict[str, list[TrackingEvent]] = defaultdict(list)
    for event in session.scalars(select(TrackingEvent).order_by(TrackingEvent.id)):
        events[event.parcel_id].append(event)
    journeys = []
    for parcel in session.scalars(select(Parcel).order_by(Parcel.id)):
        timeline = events[parcel.id]
        modes: list[str] = []
        delivered_at = None
        for e in timeline:
            mode = MODE_OF_STATE.get(e.to_state)
            if mode and (not modes or modes[-1] != mode):
                modes.append(mode)
            if delivered_at is None and e.to_state in DELIVERED_STATES and (
                    e.to_state == "picked_up" or e.place_id == parcel.destination_id):
                delivered_at = e.at
        on_time = None if delivered_at is None else (parcel.due_at is None or delivered_at <= parcel.due_at)
        journeys.append(Journey(
            parcel_id=parcel.id, direction=parcel.direction, kind=parcel.kind, origin=parcel.origin_id,
            destination=parcel.destination_id, modes=tuple(modes), state=parcel.state, created_at=parcel.created_at,
            due_at=parcel.due_at, delivered_at=delivered_at, on_time=on_time,
            states=tuple((e.to_state, e.at, e.place_id) for e in timeline)))
    delivered = [j for j in journeys if j.delivered_at is not None]
    per_hour: dict[str, Counter[int]] = {"down": Counter(), "up": Counter()}
    for j in delivered:
        per_hour.setdefault(j.direction, Counter())[j.delivered_at.astimezone(tz).hour] += 1  # type: ignore[union-attr]
    all_sorties = list(session.scalars(select(Sortie)))
    completed = [s for s in all_sorties if s.state == "completed"]
    measured = {}
    for s in completed:
        pcts = [p for p in session.scalars(select(TrackPoint.battery_pct).where(TrackPoint.sortie_id == s.id)
                                           .order_by(TrackPoint.at)) if p is not None]
        if len(pcts) >= 2:
            measured[s.id] = max(0.0, (pcts[0] - pcts[-1]) / 100.0 * s.battery_wh)
    fallbacks: Counter[str] = Counter()
    for leg in session.scalars(select(SurfaceLeg).where(SurfaceLeg.id.like("L%"))):
        for reason in (leg.reason or "unspecified").split("; "):
            fallbacks[reason] += len(leg.parcel_ids)
    auto = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "sortie.auto_approve_enabled")))
    auto_approved = len(list(session.scalars(select(SortieTransition.id).where(
        SortieTransition.to_state == "approved", SortieTransition.actor.like("auto-approve%")))))
    return ReportData(
        journeys=journeys, by_state=Counter(j.state for j in journeys),
        by_direction=Counter(j.direction for j in journeys),
        delivered_by_direction=Counter(j.direction for j in delivered),
        on_time_by_direction=Counter(j.direction for j in delivered if j.on_time),
        by_mode=Counter("+".join(j.modes) or "none" for j in delivered),
        sortie_states=Counter(s.state for s in all_sorties), sorties_flown=len(completed),
        energy_wh={s.id: s.energy_wh for s in completed}, measured_energy_wh=measured, fallbacks=fallbacks,
        auto_approved=auto_approved, auto_approve_enabled=bool(auto), delivered_per_hour=per_hour)


# --- files ------------------------------------------------------------------------------------------


def write_report(session: Session, out_dir: Path, *, tz: ZoneInfo, meta: dict[str, Any]) -> ReportData:
    """Write ``index.html``, ``map.png``, ``charts/*.png`` and ``parcels.csv`` to ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    data = compute(session, tz=tz)
    (out_dir / "charts").mkdir(parents=True, exist_ok=True)
    _write_csv(data, out_dir / "parcels.csv", tz)
    _write_map(session, out_dir / "map.png")
    _write_charts(data, out_dir / "charts")
    (out_dir / "index.html").write_text(_html(data, meta), encoding="utf-8")
    (out_dir / "summary.json").write_text(json.dumps(summary(data), indent=2), encoding="utf-8")
    return data


def summary(data: ReportData) -> dict[str, Any]:
    """The headline numbers as plain JSON."""
    return {
        "parcels": len(data.journeys), "by_direction": dict(data.by_direction), "by_state": dict(data.by_state),
        "delivered": data.delivered, "delivered_by_direction": dict(data.delivered_by_direction),
        "on_time": data.on_time,
        "on_time_rate": None if data.on_time_rate is None else round(data.on_time_rate, 4),
        "delivered_by_mode": dict(data.by_mode), "sorties_by_state": dict(data.sortie_states),
        "sorties_flown": data.sorties_flown, "planned_energy_wh_total": round(sum(data.energy_wh.values()), 1),
        "measured_energy_wh_total": round(sum(data.measured_energy_wh.values()), 1),
        "fallback_parcels_by_reason": dict(data.fallbacks), "auto_approvals": data.auto_approved,
        "auto_approve_enabled": data.auto_approve_enabled,
    }


def _fmt_time(at: datetime | None, tz: ZoneInfo) -> str:
    return "" if at is None else at.astimezone(tz).isoformat(timespec="seconds")


def _write_csv(data: ReportData, path: Path, tz: ZoneInfo) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["parcel_id", "direction", "kind", "origin", "destination", "modes", "final_state",
                         "created_at", "due_at", "delivered_at", "on_time", "states"])
        for j in data.journeys:
            states = " > ".join(f"{s}@{_fmt_time(at, tz)}" + (f"[{place}]" if place else "") for s, at, place in j.states)
            writer.writerow([j.parcel_id, j.direction, j.kind, j.origin, j.destination, "+".join(j.modes), j.state,
                             _fmt_time(j.created_at, tz), _fmt_time(j.due_at, tz), _fmt_time(j.delivered_at, tz),
                             "" if j.on_time is None else ("yes" if j.on_time else "no"), states])


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"]]
    return []


def _write_map(session: Session, path: Path) -> None:
    import math

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
    ax.set_facecolor("#dcecf5")
    for island in session.scalars(select(Island)):
        for ring in _rings(island.outline or {"type": "none"}):
            ax.fill([p[0] for p in ring], [p[1] for p in ring], color="#e8e2c8", edgecolor="#8a7f5a", lw=0.6)
    fence = session.scalar(select(Geofence).order_by(Geofence.version.desc()).limit(1))
    for feature in (fence.geojson.get("features", []) if fence else []):
        props, geom = feature.get("properties", {}), feature["geometry"]
        if props.get("kind") != "exclusion":
            continue
        if geom["type"] == "Point":
            lon, lat = geom["coordinates"]
            r = float(props.get("radius_m", 100.0))
            ts = [i * 2 * math.pi / 48 for i in range(49)]
            ax.fill([lon + r / (111_320 * math.cos(math.radians(lat))) * math.cos(t) for t in ts],
                    [lat + r / 111_320 * math.sin(t) for t in ts], color="#d9534f", alpha=0.35, lw=0)
        for ring in _rings(geom):
            ax.fill([p[0] for p in ring], [p[1] for p in ring], color="#d9534f", alpha=0.25, hatch="//",
                    edgecolor="#a94442", lw=0.8)
    for line in session.scalars(select(TransportLine)):
        d = line.definition
        pts = d.get("stops") or d.get("calls") or []
        style = dict(color="#5b8c5a", lw=1.5) if line.mode == "bus" else dict(color="#4a6fa5", lw=0.8, ls="--")
        ax.plot([p["lon_deg"] for p in pts], [p["lat_deg"] for p in pts], **style)
    drawn = 0
    for sortie in session.scalars(select(Sortie).where(Sortie.state.not_in(["planned", "rejected", "cancelled"]))):
        track = list(session.execute(select(TrackPoint.lon_deg, TrackPoint.lat_deg)
                                     .where(TrackPoint.sortie_id == sortie.id).order_by(TrackPoint.at)))
        if len(track) >= 2:
            ax.plot([p[0] for p in track], [p[1] for p in track], color="#e67e22", lw=1.4, alpha=0.85)
        else:
            route = sortie.plan.get("route") or []
            ax.plot([p[1] for p in route], [p[0] for p in route], color="#e67e22", lw=1.0, ls=":", alpha=0.7)
        drawn += 1
    pads = list(session.scalars(select(Pad)))
    ax.scatter([p.lon_deg for p in pads], [p.lat_deg for p in pads], marker="^", color="#2c3e50", zorder=5)
    for p in pads:
        ax.annotate(p.name_en or p.id, (p.lon_deg, p.lat_deg), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_aspect(1 / math.cos(math.radians(30.7)))
    ax.set_title(f"Shengsi: {drawn} sortie tracks (orange), no-fly zones (red), bus lines (green), ferries (blue)",
                 fontsize=9)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _write_charts(data: ReportData, folder: Path) -> None:
    import matplotlib.pyplot as plt

    hours = sorted({h for c in data.delivered_per_hour.values() for h in c}) or [0]
    span = list(range(min(hours), max(hours) + 1))
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    width = 0.4
    for offset, direction in ((-width / 2, "down"), (width / 2, "up")):
        counts = data.delivered_per_hour.get(direction, Counter())
        ax.bar([h + offset for h in span], [counts[h] for h in span], width=width, label=direction)
    ax.set_xlabel("hour (local time)")
    ax.set_ylabel("parcels delivered")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    ax.set_title("Parcels delivered per hour by direction")
    fig.tight_layout()
    fig.savefig(folder / "delivered_per_hour.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    labels, rates = [], []
    for direction in ("down", "up"):
        n = data.delivered_by_direction.get(direction, 0)
        labels.append(f"{direction}\n({n} delivered)")
        rates.append(100.0 * data.on_time_by_direction.get(direction, 0) / n if n else 0.0)
    ax.bar(labels, rates, color=["#4a6fa5", "#e67e22"])
    ax.set_ylim(0, 100)
    ax.set_ylabel("on time (%)")
    ax.set_title("On-time rate of delivered parcels")
    fig.tight_layout()
    fig.savefig(folder / "on_time.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ids = sorted(data.energy_wh)
    ax.bar(range(len(ids)), [data.energy_wh[i] for i in ids], label="planned", color="#95a5a6")
    ax.scatter(range(len(ids)), [data.measured_energy_wh.get(i, float("nan")) for i in ids], color="#c0392b",
               label="measured (battery %)", zorder=3)
    ax.set_xticks(range(len(ids)))
    ax.set_xticklabels([i.rsplit("-", 1)[-1] for i in ids], rotation=60, fontsize=7)
    ax.set_ylabel("energy (Wh)")
    ax.set_title(f"Energy per completed sortie ({len(ids)})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "energy_per_sortie.png")
    plt.close(fig)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(data: ReportData, meta: dict[str, Any]) -> str:
    rate = "n/a" if data.on_time_rate is None else f"{100 * data.on_time_rate:.1f} %"
    warn = ("<p class=warn>Sorties were approved automatically: the operator passed <code>--auto-approve</code> "
            "(audit entry <code>sortie.auto_approve_enabled</code>).</p>" if data.auto_approve_enabled else "")
    meta_rows = [(k, v) for k, v in meta.items()]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shengsi demo report</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
.warn{{background:#fff3cd;padding:.5em}} img{{max-width:100%}} .n{{font-size:1.4em;font-weight:bold}}</style></head>
<body><h1>Shengsi dispatch demo</h1>{warn}
{_table(meta_rows, ("run", "value"))}
<h2>Parcels</h2>
<p>parcels: <span class=n id=parcels-total>{len(data.journeys)}</span>,
delivered: <span class=n id=parcels-delivered>{data.delivered}</span>,
on time: <span class=n id=parcels-on-time>{data.on_time}</span> (<span id=on-time-rate>{rate}</span>)</p>
{_table([(d, data.by_direction[d], data.delivered_by_direction[d], data.on_time_by_direction[d])
         for d in sorted(data.by_direction)], ("direction", "parcels", "delivered", "on time"))}
<h3>By final state</h3>{_table(sorted(data.by_state.items()), ("state", "parcels"))}
<h3>Delivered parcels by mode</h3>{_table(sorted(data.by_mode.items()), ("modes", "parcels"))}
<h2>Sorties</h2>
<p>completed: <span class=n id=sorties-flown>{data.sorties_flown}</span>;
planned energy of completed sorties: {sum(data.energy_wh.values()):.0f} Wh;
measured from telemetry: {sum(data.measured_energy_wh.values()):.0f} Wh;
approvals by the auto-approver: {data.auto_approved}</p>
{_table(sorted(data.sortie_states.items()), ("state", "sorties"))}
<h2>Ferry and bus fallbacks</h2>
{_table(sorted(data.fallbacks.items(), key=lambda kv: -kv[1]), ("reason", "parcels")) if data.fallbacks
 else "<p>none</p>"}
<h2>Map</h2><img src="map.png" alt="map of sorties">
<h2>Charts</h2><img src="charts/delivered_per_hour.png" alt="delivered per hour">
<img src="charts/on_time.png" alt="on-time rate"><img src="charts/energy_per_sortie.png" alt="energy per sortie">
<p>Every parcel's journey: <a href="parcels.csv">parcels.csv</a>. Numbers computed by
<code>controller/demo/report.py</code> from the database.</p>
</body></html>
"""
