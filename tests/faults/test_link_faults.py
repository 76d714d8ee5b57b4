"""Mission uploads over a faulty MAVLink link: verified correct or failed cleanly, never a wrong mission.

Each trial, against the in-process SimVehicle over real TCP:

1. with the link clean, upload and verify an *old* mission (what the vehicle held before);
2. switch on the faults (loss / duplication / reordering of packets) and upload a *new* mission with
   ``upload_and_verify`` and a small retry budget, so that some uploads fail;
3. switch the faults off and read what the simulator actually stores.

Outcomes:

* **success** — ``upload_and_verify`` returned and the stored mission equals the new one item by item;
* **clean failure** — it raised a ``VehicleLinkError`` and the vehicle holds the old mission, the new
  one, or a *partial upload*: the first k items of the new mission followed by what is left of the
  old one (ArduPilot writes items as they arrive and truncates to the announced count). The client
  reported the failure, so ``SortieRunner.prepare`` ends in ``upload_failed``/``link_lost`` and the
  controller never arms the vehicle (checked in :func:`test_failed_upload_never_arms`);
* **wrong** — success reported but the stored mission differs, any item that is neither the new nor
  the old item at its seq, or any other exception. Must be 0.

The simulator injects loss both ways, duplication and reordering on the vehicle's packets.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter

import pytest

from controller.vehicle.errors import VehicleLinkError
from controller.vehicle.manager import connect_vehicle
from controller.vehicle.mission_protocol import MissionTiming, compare_items
from controller.vehicle.sortie import SortiePlan, SortieRunner, SortieState, SortieTiming
from flight_plans.mission_item import MissionItem, MissionType, degrees_to_e7
from sitl.simvehicle import SimVehicle, SimVehicleConfig

HOME = (30.7245, 122.452)
SETTINGS = {
    "loss 10%": {"packet_loss": 0.10},
    "loss 30%": {"packet_loss": 0.30},
    "dup 30% + reorder 30%": {"duplicate": 0.30, "reorder": 0.30},
    "loss 30% + dup 20% + reorder 20%": {"packet_loss": 0.30, "duplicate": 0.20, "reorder": 0.20},
    # Beyond the settings: heavy loss, so that uploads also break part-way (partial missions).
    "loss 60%": {"packet_loss": 0.60},
}
SEEDS = (1, 2, 3)
TRIALS_PER_SEED = 4
# Short timeouts and a small retry budget: the point is to provoke failures, not to ride them out.
FAULTY_TIMING = MissionTiming(handshake_timeout_s=0.25, request_timeout_s=0.25, item_timeout_s=0.08, max_retries=3)
CLEAN_TIMING = MissionTiming(handshake_timeout_s=0.5, request_timeout_s=0.5, item_timeout_s=0.2, max_retries=10)
NO_FAULTS = {"packet_loss": 0.0, "duplicate": 0.0, "reorder": 0.0}


def mission(n_waypoints: int, *, variant: int) -> list[MissionItem]:
    """Home, takeoff, ``n_waypoints`` waypoints, land; every variant puts every item somewhere else."""
    lat0, lon0 = HOME
    items = [MissionItem(seq=0, command=16, frame=0, x=degrees_to_e7(lat0), y=degrees_to_e7(lon0), z=10.0)]
    items.append(MissionItem(seq=1, command=22, frame=3, x=degrees_to_e7(lat0), y=degrees_to_e7(lon0),
                             z=30.0 + variant))
    for i in range(n_waypoints):
        items.append(MissionItem(seq=len(items), command=16, frame=3,
                                 x=degrees_to_e7(lat0 + 0.0003 * (i + 1) + 0.00001 * variant),
                                 y=degrees_to_e7(lon0 + 0.0002 * (i + 1) - 0.00001 * variant), z=40.0 + variant))
    last = items[-1]
    items.append(MissionItem(seq=len(items), command=21, frame=3, x=last.x, y=last.y, z=0.0))
    return items


def _same(a: MissionItem, b: MissionItem) -> bool:
    """The facts that make a mission wrong if they differ: command, position, altitude (to 1 cm)."""
    return a.command == b.command and a.x == b.x and a.y == b.y and abs(a.z - b.z) < 0.01


def classify_failed(stored: list[MissionItem], old: list[MissionItem], new: list[MissionItem]) -> str:
    """'old', 'new', 'partial' (clean) or 'wrong:<why>' for what a vehicle holds after a failed upload."""
    body, old_body, new_body = stored[1:], old[1:], new[1:]
    if len(body) == len(old_body) and all(map(_same, body, old_body)):
        return "old"
    if len(body) == len(new_body) and all(map(_same, body, new_body)):
        return "new"
    if len(body) > max(len(old_body), len(new_body)):
        return f"wrong: {len(body)} items, more than old {len(old_body)} and new {len(new_body)}"
    k = 0
    while k < len(body) and k < len(new_body) and _same(body[k], new_body[k]):
        k += 1
    rest_ok = all(i < len(old_body) and _same(body[i], old_body[i]) for i in range(k, len(body)))
    return "partial" if rest_ok else f"wrong: item {k + 1} is neither the new nor the old one"


async def _upload_clean(link, sim: SimVehicle, items: list[MissionItem]) -> None:  # type: ignore[no-untyped-def]
    sim.set_link_faults(**NO_FAULTS)
    await link.upload_and_verify(items, mission_type=MissionType.MISSION, timing=CLEAN_TIMING)


async def run_setting(name: str, faults: dict[str, float]) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for seed in SEEDS:
        sim = SimVehicle(SimVehicleConfig(sysid=1, home_lat_deg=HOME[0], home_lon_deg=HOME[1], home_alt_m=10.0,
                                          speedup=20.0, seed=seed))
        sim.start()
        try:
            async with connect_vehicle(sim.url, timeout_s=10.0) as link:
                for trial in range(TRIALS_PER_SEED):
                    variant = seed * 100 + trial * 2
                    # Lengths vary both ways so truncation of a longer old mission is exercised.
                    old = mission(3 + (trial * 3) % 7, variant=variant)
                    new = mission(2 + (trial * 5 + seed) % 9, variant=variant + 1)
                    await _upload_clean(link, sim, old)
                    sim.set_link_faults(**{**NO_FAULTS, **faults})
                    error: BaseException | None = None
                    try:
                        await link.upload_and_verify(new, mission_type=MissionType.MISSION, timing=FAULTY_TIMING)
                    except VehicleLinkError as exc:
                        error = exc
                    sim.set_link_faults(**NO_FAULTS)
                    stored = list(sim.snapshot().mission_items)
                    where = f"{name} seed {seed} trial {trial}"
                    if error is None:
                        exact = len(stored) == len(new) and all(map(_same, stored[1:], new[1:]))
                        if exact and compare_items(new, stored, mission_type=MissionType.MISSION) == []:
                            counts["success"] += 1
                        else:
                            counts["wrong"] += 1
                            wrong.append(f"{where}: verified upload but the vehicle holds another mission")
                        continue
                    outcome = classify_failed(stored, old, new)
                    if outcome.startswith("wrong"):
                        counts["wrong"] += 1
                        wrong.append(f"{where}: {type(error).__name__}: {outcome}")
                    else:
                        counts["clean failure"] += 1
                        counts[f"  vehicle holds {outcome}"] += 1
                        counts[f"  {type(error).__name__}"] += 1
                # The link is still usable after all of that: a clean upload verifies.
                await _upload_clean(link, sim, mission(4, variant=9999))
        finally:
            sim.stop()
    return counts, wrong


async def test_upload_under_faults_is_verified_or_fails_cleanly(report) -> None:  # type: ignore[no-untyped-def]
    # The settings run side by side (one simulator thread each): the trials mostly wait on timeouts.
    results = await asyncio.gather(*(run_setting(name, faults) for name, faults in SETTINGS.items()))
    trials = len(SEEDS) * TRIALS_PER_SEED
    all_wrong: list[str] = []
    for name, (counts, wrong) in zip(SETTINGS, results):
        details = ", ".join(f"{k.strip()}={v}" for k, v in sorted(counts.items()) if k.startswith("  "))
        report(f"link faults [{name}]: {trials} trials: success={counts['success']} "
               f"clean-failure={counts['clean failure']} ({details}) wrong={counts['wrong']}")
        assert counts["success"] + counts["clean failure"] + counts["wrong"] == trials
        all_wrong += wrong
    assert all_wrong == []


def test_classifier_catches_a_wrong_mission() -> None:
    """The oracle itself can fail: a mixed-up or shifted mission is not called clean."""
    old, new = mission(5, variant=1), mission(5, variant=2)
    assert classify_failed(old, old, new) == "old"
    assert classify_failed(new, old, new) == "new"
    assert classify_failed(new[:3] + old[3:], old, new) == "partial"
    assert classify_failed(new[:3], old, new) == "partial"  # truncated to the announced count, then stopped
    assert classify_failed(old[:2] + new[2:], old, new).startswith("wrong")  # new items after old ones
    shifted = [new[0], new[2], new[1], *new[3:]]  # a duplicated/reordered item stored at the wrong seq
    assert classify_failed(shifted, old, new).startswith("wrong")
    moved = [*new[:3], dataclasses.replace(new[3], x=new[3].x + 1000), *new[4:]]
    assert classify_failed(moved, old, new).startswith("wrong")


async def test_failed_upload_never_arms(report) -> None:  # type: ignore[no-untyped-def]
    """A failed upload ends the sortie before launch: the runner never arms a vehicle it could not verify."""
    sim = SimVehicle(SimVehicleConfig(sysid=1, home_lat_deg=HOME[0], home_lon_deg=HOME[1], home_alt_m=10.0,
                                      speedup=20.0, seed=5))
    sim.start()
    states: list[str] = []

    async def record(state, reason, data) -> None:  # type: ignore[no-untyped-def]
        states.append(SortieState(state).value)

    try:
        async with connect_vehicle(sim.url, timeout_s=10.0) as link:
            await _upload_clean(link, sim, mission(3, variant=1))
            sim.set_link_faults(packet_loss=0.7)
            timing = SortieTiming(mission_timing=dataclasses.replace(FAULTY_TIMING, max_retries=1))
            runner = SortieRunner(link, SortiePlan(mission=mission(8, variant=2)), on_transition=record,
                                  timing=timing)
            assert await runner.prepare() is False
            sim.set_link_faults(packet_loss=0.0)
            assert runner.state in (SortieState.UPLOAD_FAILED, SortieState.LINK_LOST)
        snapshot = sim.snapshot()
        assert not snapshot.armed and snapshot.mode != "AUTO"
    finally:
        sim.stop()
    report(f"link faults: failed upload -> sortie states {states}, vehicle armed={snapshot.armed}")
