"""The approval workflow: bound to the plan hash, voided by change, expiring, gating uploads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.db.engine import transaction
from controller.db.models import Parcel, Sortie
from controller.domain.errors import Conflict, InvalidTransition
from controller.domain.parcel_input import ParcelInput
from controller.domain.plan_hash import plan_hash
from controller.services import parcels, sorties

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
FENCE_OK = lambda plan: None  # noqa: E731 - the fence check itself is tested with flight_plans


def _plan(**overrides: object) -> dict[str, object]:
    plan: dict[str, object] = {
        "drone_id": "d01", "origin_pad": "caiyuan", "stops": ["huanglong"],
        "route": [[30.7245, 122.452], [30.667, 122.55]], "mission_items": [{"seq": 0, "command": 16}],
        "fence_items": [], "rally_items": [], "wind": {"speed_m_s": 4.0, "from_deg": 90.0},
        "altitude_m": 80.0, "geofence_version": 1, "payload_kg": 1.5, "parcel_ids": ["P1"],
    }
    plan.update(overrides)
    return plan


@pytest.fixture
def planned(shengsi_factory):  # type: ignore[no-untyped-def]
    with transaction(shengsi_factory) as session:
        parcels.create_parcel(session, data=ParcelInput(id="P1", origin="caiyuan-dc", destination="daao-village",
                                                        weight_kg=1.5, length_cm=20, width_cm=20, height_cm=20),
                              actor="test")
        sorties.create_planned(session, sortie_id="S1", drone_id="d01", origin_pad="caiyuan", stops=["huanglong"],
                               plan=_plan(), drops={"P1": "huanglong"}, payload_kg=1.5, energy_wh=120.0,
                               battery_wh=800.0, altitude_m=80.0, depart_at=NOW, arrive_at=NOW + timedelta(minutes=15),
                               geofence_version=1, actor="scheduler")
    return shengsi_factory


def test_planning_schedules_the_parcels(planned) -> None:  # type: ignore[no-untyped-def]
    with planned() as session:
        assert session.get(Parcel, "P1").state == "scheduled"  # type: ignore[union-attr]
        assert session.get(Parcel, "P1").sortie_id == "S1"  # type: ignore[union-attr]
        assert [t.to_state for t in sorties.transitions(session, "S1")] == ["planned"]


def test_approval_binds_to_the_seen_plan_and_gates_upload(planned) -> None:  # type: ignore[no-untyped-def]
    seen = plan_hash(_plan())
    with transaction(planned) as session:
        sortie = sorties.approve(session, sortie_id="S1", seen_plan_hash=seen, actor="dispatcher-wang", ttl_s=600,
                                 fence_check=FENCE_OK, now=NOW)
        assert sortie.state == "approved" and sortie.approved_by == "dispatcher-wang"
        sorties.check_upload_allowed(sortie, fence_check=FENCE_OK, now=NOW + timedelta(seconds=599))
        with pytest.raises(sorties.UploadNotAllowed, match="expired"):
            sorties.check_upload_allowed(sortie, fence_check=FENCE_OK, now=NOW + timedelta(seconds=601))
        with pytest.raises(sorties.UploadNotAllowed, match="fence"):
            sorties.check_upload_allowed(sortie, fence_check=lambda plan: "leg 2 crosses Lühua anchorage",
                                         now=NOW)


def test_stale_hash_is_refused(planned) -> None:  # type: ignore[no-untyped-def]
    with transaction(planned) as session:
        with pytest.raises(sorties.PlanChanged):
            sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan(altitude_m=60.0)),
                            actor="d", ttl_s=600, fence_check=FENCE_OK, now=NOW)
    with planned() as session:
        assert session.get(Sortie, "S1").state == "planned"  # type: ignore[union-attr]


def test_fence_failure_blocks_approval(planned) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sorties.UploadNotAllowed):
        with transaction(planned) as session:
            sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan()), actor="d", ttl_s=600,
                            fence_check=lambda plan: "outside the operating area", now=NOW)


def test_replan_voids_the_approval_with_the_reason(planned) -> None:  # type: ignore[no-untyped-def]
    with transaction(planned) as session:
        sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan()), actor="d", ttl_s=600,
                        fence_check=FENCE_OK, now=NOW)
    with transaction(planned) as session:
        sorties.replace_plan(session, sortie_id="S1", plan=_plan(wind={"speed_m_s": 11.0, "from_deg": 0.0}),
                             reason="new wind forecast 11 m/s", actor="forecast")
    with planned() as session:
        sortie = session.get(Sortie, "S1")
        assert sortie.state == "planned" and sortie.approved_by is None  # type: ignore[union-attr]
        assert sortie.void_reason == "new wind forecast 11 m/s"  # type: ignore[union-attr]
        with pytest.raises(sorties.UploadNotAllowed):
            sorties.check_upload_allowed(sortie, fence_check=FENCE_OK, now=NOW)  # type: ignore[arg-type]
        assert [t.to_state for t in sorties.transitions(session, "S1")] == ["planned", "approved", "planned"]


def test_label_changes_do_not_void(planned) -> None:  # type: ignore[no-untyped-def]
    with transaction(planned) as session:
        sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan()), actor="d", ttl_s=600,
                        fence_check=FENCE_OK, now=NOW)
        sorties.replace_plan(session, sortie_id="S1", plan={**_plan(), "label": "早班"}, reason="x", actor="y")
    with planned() as session:
        assert session.get(Sortie, "S1").state == "approved"  # type: ignore[union-attr]


def test_expiry_voids(planned) -> None:  # type: ignore[no-untyped-def]
    with transaction(planned) as session:
        sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan()), actor="d", ttl_s=60,
                        fence_check=FENCE_OK, now=NOW)
    with transaction(planned) as session:
        assert sorties.expire_approvals(session, now=NOW + timedelta(seconds=30)) == []
        assert sorties.expire_approvals(session, now=NOW + timedelta(seconds=61)) == ["S1"]
    with planned() as session:
        assert session.get(Sortie, "S1").void_reason == "approval expired"  # type: ignore[union-attr]


def test_reject_needs_a_reason_and_releases_parcels(planned) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict):
        with transaction(planned) as session:
            sorties.reject(session, sortie_id="S1", reason="  ", actor="d")
    with transaction(planned) as session:
        sorties.reject(session, sortie_id="S1", reason="fog at Huanglong", actor="d")
    with planned() as session:
        parcel = session.get(Parcel, "P1")
        assert parcel.state == "received" and parcel.sortie_id is None  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition):
        with transaction(planned) as session:
            sorties.approve(session, sortie_id="S1", seen_plan_hash=plan_hash(_plan()), actor="d", ttl_s=60,
                            fence_check=FENCE_OK, now=NOW)
