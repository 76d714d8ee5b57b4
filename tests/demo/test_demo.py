"""A short simulated day end to end: drones fly, the report's numbers match the database."""

from __future__ import annotations

import csv
import json
import re

from sqlalchemy import create_engine, text

from controller.cli.demo import run_demo
from tests.conftest import make_settings

DELIVERED_SQL = """
SELECT COUNT(DISTINCT p.id) FROM parcels p JOIN tracking_events e ON e.parcel_id = p.id
WHERE e.to_state = 'picked_up'
   OR (e.to_state IN ('at_service_point', 'at_locker') AND e.place_id = p.destination_id)
"""


def _html_number(page: str, element_id: str) -> int:
    match = re.search(rf'id={element_id}>(\d+)<', page)
    assert match, f"{element_id} not in index.html"
    return int(match.group(1))


def test_short_demo_flies_and_reports_what_the_database_holds(sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path)
    folder, result, numbers = run_demo(settings=settings, hours=0.5, speedup=90.0, wind_m_s=3.0, seed=3,
                                       auto_approve=True, out_dir=tmp_path / "report", progress=False,
                                       echo=lambda _: None)
    assert not result.interrupted
    for name in ("index.html", "map.png", "parcels.csv", "charts/delivered_per_hour.png", "charts/on_time.png",
                 "charts/energy_per_sortie.png"):
        assert (folder / name).stat().st_size > 500, name
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        parcel_count = conn.execute(text("SELECT COUNT(*) FROM parcels")).scalar_one()
        delivered = conn.execute(text(DELIVERED_SQL)).scalar_one()
        completed = conn.execute(text("SELECT COUNT(*) FROM sorties WHERE state = 'completed'")).scalar_one()
        by_drone = conn.execute(text(
            "SELECT COUNT(DISTINCT parcel_id) FROM tracking_events WHERE to_state = 'in_transit_drone'")).scalar_one()
        enabled = conn.execute(text(
            "SELECT actor FROM audit_log WHERE action = 'sortie.auto_approve_enabled'")).scalars().all()
        approvers = set(conn.execute(text(
            "SELECT actor FROM sortie_transitions WHERE to_state = 'approved'")).scalars())
        ids = set(conn.execute(text("SELECT id FROM parcels")).scalars())
    engine.dispose()
    # Something really flew and delivered, approved only by the operator's flag, which the audit log records.
    assert completed >= 1 and by_drone >= 1 and delivered >= 1
    assert enabled == ["auto-approve (operator flag)"]
    assert approvers == {"auto-approve (operator flag)"}
    with (folder / "parcels.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == parcel_count and {r["parcel_id"] for r in rows} == ids
    assert sum(1 for r in rows if r["delivered_at"]) == delivered
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert _html_number(page, "parcels-total") == parcel_count
    assert _html_number(page, "parcels-delivered") == delivered
    assert _html_number(page, "sorties-flown") == completed
    assert "--auto-approve" in page
    assert numbers["delivered"] == delivered
    assert json.loads((folder / "summary.json").read_text())["sorties_flown"] == completed


def test_windy_day_grounds_the_drones_and_uses_ferries_and_buses(sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path)
    folder, _, numbers = run_demo(settings=settings, hours=0.5, speedup=120.0, wind_m_s=14.0, seed=5,
                                  auto_approve=True, out_dir=tmp_path / "report", progress=False, echo=lambda _: None)
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        sorties = conn.execute(text("SELECT COUNT(*) FROM sorties")).scalar_one()
        legs = conn.execute(text("SELECT id, reason FROM surface_legs WHERE id LIKE 'L%'")).all()
        boarded = conn.execute(text(
            "SELECT COUNT(*) FROM tracking_events WHERE to_state IN ('in_transit_ferry', 'in_transit_bus')"
        )).scalar_one()
    engine.dispose()
    assert sorties == 0
    # Every surface leg is there because of the wind, or because its place has no pad at all.
    assert any("drones grounded" in reason for _, reason in legs), legs
    assert all("drones grounded" in reason or "no drone pad" in reason for _, reason in legs), legs
    assert boarded >= 1  # a ferry or bus actually left with parcels within the half hour
    assert any("grounded" in reason for reason in numbers["fallback_parcels_by_reason"])
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "grounded" in page and _html_number(page, "sorties-flown") == 0
