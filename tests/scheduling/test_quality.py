"""Quality on a mid-size Shengsi instance (fleet short of time): gap to the lower bound, re-packing limits."""

from __future__ import annotations

import random
from datetime import timedelta

from benchmarks.scheduler_bench import START, fleet, make_parcels
from controller.scenario import load_scenario
from controller.scheduling import Wind, WindForecast
from controller.scheduling.flight_estimator import best_available_estimator
from controller.scheduling.from_scenario import drone_specs_from_catalogue, problem_from_scenario
from controller.scheduling.planner import Scheduler, schedule

# Measured 6.5 % (66 sorties, bound 62) when written; 48 % on the large bench before re-packing;
# 9.1 % (72 vs 66) since idle drones fly perishables that had no drone in time (objective 1 before
# sorties: 9 perishables rescued with 16 flights); the bound has no time, so those count against it.
# 6.1 % (70 vs 66) since rescues go when the regular flights carry their parcels after re-packing.
MAX_GAP = 0.10


def _instance(n_parcels: int, *, drones: int):  # type: ignore[no-untyped-def]
    """A Shengsi day of ``n_parcels`` parcels (seed 7) for ``drones`` drones, 12 h, 6 m/s wind from 30 deg."""
    scenario = load_scenario("shengsi")
    specs = drone_specs_from_catalogue()
    parcels = make_parcels(scenario, n_parcels, random.Random(7))
    prob = problem_from_scenario(scenario, parcels, start_at=START, horizon_s=12 * 3600,
                                 wind=WindForecast.constant(Wind(speed_m_s=6, from_deg=30), start_at=START),
                                 drone_specs=specs, drones=fleet(scenario, specs, drones))
    est, _ = best_available_estimator(scenario, prob.pads, altitude_m=prob.config.cruise_alt_m)
    return specs, parcels, prob, est


def _assert_within_limits(sortie, specs, by_id) -> None:  # type: ignore[no-untyped-def]
    """Payload (kg), box volume (l) and energy with reserve (Wh) of the sortie's model."""
    spec = specs[sortie.model_id]
    assert sum(by_id[p].weight_kg for p in sortie.parcel_ids) <= spec.max_payload_kg + 1e-9
    assert sum(by_id[p].volume_l for p in sortie.parcel_ids) <= spec.max_box_volume_l + 1e-9
    assert sortie.energy_wh <= sortie.energy_budget_wh + 1e-6


def _assert_consistent(plan, prob, specs, by_id) -> None:  # type: ignore[no-untyped-def]
    """Each drone's day is a chain (leaves where it landed, after the turnaround); every sortie keeps its
    model's limits, is a delivery iff it carries parcels, and leaves once its parcels are ready; a parcel
    arrives by its deadline unless the sortie lists it late; no parcel flies twice."""
    flown = [pid for s in plan.sorties for pid in s.parcel_ids]
    assert len(flown) == len(set(flown))
    turnaround = timedelta(seconds=prob.config.turnaround_s)
    for drone in prob.drones:
        mine = sorted((s for s in plan.sorties if s.drone_id == drone.drone_id), key=lambda s: s.depart_at)
        if mine:
            assert mine[0].origin_pad == drone.pad_id
        for prev, nxt in zip(mine, mine[1:]):
            assert nxt.origin_pad == prev.stops[-1]
            assert nxt.depart_at >= prev.arrive_at + turnaround - timedelta(seconds=1)
    for s in plan.sorties:
        _assert_within_limits(s, specs, by_id)
        assert (s.purpose == "delivery") == bool(s.parcel_ids)
        for leg in s.legs:
            for pid in leg.drop_parcel_ids:
                p = by_id[pid]
                assert p.ready_at <= s.depart_at
                assert pid in s.late_parcel_ids or p.due_at is None or leg.arrive_at <= p.due_at


def test_mid_size_gap_to_lower_bound_and_topped_up_sorties_keep_every_limit():
    specs, parcels, prob, est = _instance(1500, drones=8)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    bound = plan.metrics["sortie_lower_bound"]
    assert 0 < bound <= len(delivery) <= bound * (1 + MAX_GAP)
    assert sched.counters["topped_up_parcels"] > 0  # the fleet is short of time: re-packing must kick in
    by_id = {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels}
    for s in delivery:
        _assert_within_limits(s, specs, by_id)
        for leg in s.legs:
            for pid in leg.drop_parcel_ids:
                p = by_id[pid]
                assert p.ready_at <= s.depart_at
                if p.perishable and p.due_at is not None and leg.arrive_at > p.due_at:
                    assert pid in s.late_parcel_ids
    flown = [pid for s in delivery for pid in s.parcel_ids]
    assert len(flown) == len(set(flown)) == plan.metrics["parcels_by_drone"]
    # Perishables topped up off an on-time ferry/bus leave that run: no parcel travels twice.
    on_surface = {pid for leg in plan.surface_legs for pid in leg.parcel_ids}
    assert not on_surface & set(flown)
    assert any(p.parcel_id in set(flown) for p in sched._moved_to_surface)  # the case is exercised


def _missed(plan, parcels) -> set[str]:  # type: ignore[no-untyped-def]
    """Ids of perishables the plan brings late or not at all."""
    late = {p for s in plan.sorties for p in s.late_parcel_ids}
    late |= {p for leg in plan.surface_legs for p in leg.late_parcel_ids}
    late |= {u.parcel_id for u in plan.unassigned}
    return {p.parcel_id for p in parcels if p.perishable and p.parcel_id in late}


def test_rescue_flights_merge_into_later_flights_that_bring_their_perishables_in_time(monkeypatch):
    """The rescue gives each perishable its earliest window, so perishables from one pad that become
    ready apart got a flight each (with empty flights out and back); a later placed flight that brings
    them in time now takes them and the earlier chain is dropped. On 2 500 parcels / 10 drones that saves
    2 flights with the same perishables on time; each drone's day stays a consistent chain."""
    specs, parcels, prob, est = _instance(2500, drones=10)
    monkeypatch.setattr(Scheduler, "repack_rescues", lambda self: None)  # the merge alone, in both runs
    monkeypatch.setattr(Scheduler, "repack_flights", lambda self: None)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    monkeypatch.setattr(Scheduler, "merge_rescue_flights", lambda self: None)
    unmerged = Scheduler(prob, est, seed=0).run()
    assert sched.counters["merged_rescue_flights"] > 0
    assert len(plan.sorties) < len(unmerged.sorties)
    assert len(_missed(plan, parcels)) <= len(_missed(unmerged, parcels))
    assert plan.metrics["parcels_by_drone"] >= unmerged.metrics["parcels_by_drone"]
    assert len({s.sortie_id for s in plan.sorties}) == len(plan.sorties)
    _assert_consistent(plan, prob, specs, {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels})


def test_a_rescue_merges_into_a_full_flight_in_time_when_one_of_its_parcels_moves_to_another_flight(monkeypatch):
    """The flights that bring a rescued perishable in time were full when the rescue ran; one of their
    parcels can often take another flight from the same pad (on time, with room), which makes room and
    saves the rescue's sortie. On 4 000 parcels / 16 drones that saves 2 delivery sorties with the same
    parcels flown and the same perishables on time; every parcel still rides a flight that leaves once
    it is ready, reaches its stop by its deadline, and keeps every limit."""
    specs, parcels, prob, est = _instance(4000, drones=16)
    monkeypatch.setattr(Scheduler, "repack_rescues", lambda self: None)  # the merge alone, in both runs
    monkeypatch.setattr(Scheduler, "repack_flights", lambda self: None)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    monkeypatch.setattr(Scheduler, "_absorb_by_moving_one", lambda self, host, parcels, others: False)
    unmoved = Scheduler(prob, est, seed=0).run()
    assert sched.counters["parcels_moved_for_rescues"] > 0
    delivery = [s for s in plan.sorties if s.purpose == "delivery"]
    assert len(delivery) < unmoved.metrics["delivery_sorties"]
    assert plan.metrics["parcels_by_drone"] == unmoved.metrics["parcels_by_drone"]
    assert _missed(plan, parcels) == _missed(unmoved, parcels)
    _assert_consistent(plan, prob, specs, {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels})
    assert all(leg.drop_parcel_ids for s in delivery for leg in s.legs)  # no call at a stop with nothing to drop


def test_rescues_go_when_the_regular_flights_carry_their_parcels_once_the_loads_are_reshuffled(monkeypatch):
    """After the merges, the parcels of the regular one-stop flights from a pad and those of a rescue are
    re-assigned among the regular flights (`repack_rescues`); a rescue whose parcels all find room goes
    (with its empty flights). On 1 500 parcels / 8 drones that saves 2 delivery sorties with the same
    parcels flown and the same perishables on time; every parcel still rides a flight that leaves once
    it is ready and reaches its stop by its deadline, each drone's day stays a chain, and every limit
    (energy at the flight's own charge and wind included) holds."""
    specs, parcels, prob, est = _instance(1500, drones=8)
    monkeypatch.setattr(Scheduler, "repack_flights", lambda self: None)  # the rescues' re-packing alone
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    monkeypatch.setattr(Scheduler, "repack_rescues", lambda self: None)
    unrepacked = Scheduler(prob, est, seed=0).run()
    assert sched.counters["repacked_rescue_flights"] > 0
    assert plan.metrics["delivery_sorties"] < unrepacked.metrics["delivery_sorties"]
    assert plan.metrics["parcels_by_drone"] == unrepacked.metrics["parcels_by_drone"]
    assert _missed(plan, parcels) == _missed(unrepacked, parcels)
    _assert_consistent(plan, prob, specs, {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels})


def test_part_full_flights_go_when_the_other_flights_from_their_pad_carry_their_parcels(monkeypatch):
    """With drones to spare, flights from one pad to one stop leave part full at different times;
    `repack_flights` re-assigns the parcels among them and drops a flight whose parcels all find room
    (with the empty flights its drone no longer needs). On 500 parcels / 40 drones that saves delivery
    sorties with the same parcels flown and the same perishables on time; every parcel still rides a
    flight that leaves once it is ready and reaches its stop by its deadline, each drone's day stays a
    chain, and every limit (energy at the flight's own charge and wind included) holds."""
    specs, parcels, prob, est = _instance(500, drones=40)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    monkeypatch.setattr(Scheduler, "repack_flights", lambda self: None)
    before = Scheduler(prob, est, seed=0).run()
    assert sched.counters["repacked_flights"] > 0
    assert plan.metrics["delivery_sorties"] <= before.metrics["delivery_sorties"] - sched.counters["repacked_flights"]
    assert len(plan.sorties) < len(before.sorties)
    assert plan.metrics["parcels_by_drone"] == before.metrics["parcels_by_drone"]
    assert _missed(plan, parcels) == _missed(before, parcels)
    assert plan.metrics["delivery_sorties"] >= plan.metrics["sortie_lower_bound"]
    _assert_consistent(plan, prob, specs, {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels})


def test_a_delivery_and_the_empty_flight_after_it_become_one_empty_flight_when_its_parcels_find_room(monkeypatch):
    """A delivery whose drone flies on from where it lands cannot simply go: the drone would start its
    next flight from the wrong pad. If an empty flight comes next to it, the pair is replaced by one
    empty flight from where the first leaves to where the second lands (conflict-free, in the time the
    drone had for both). On 500 parcels / 10 drones that happens once: one delivery sortie and one
    flight fewer than without it, the same parcels flown and perishables on time, and the new flight
    fits its drone's day (it leaves where the drone is, lands where its next flight leaves)."""
    specs, parcels, prob, est = _instance(500, drones=10)
    sched = Scheduler(prob, est, seed=0)
    plan = sched.run()
    monkeypatch.setattr(Scheduler, "_bypass", lambda self, f, seq, empty: None)
    without = Scheduler(prob, est, seed=0).run()
    assert sched.counters["bypass_flights"] == 1
    assert plan.metrics["delivery_sorties"] == without.metrics["delivery_sorties"] - 1
    assert len(plan.sorties) == len(without.sorties) - 1
    assert plan.metrics["parcels_by_drone"] == without.metrics["parcels_by_drone"]
    assert _missed(plan, parcels) == _missed(without, parcels)
    new = [s for s in plan.sorties if s.purpose == "reposition"
           and not any(w.drone_id == s.drone_id and w.origin_pad == s.origin_pad and w.stops == s.stops
                       for w in without.sorties if w.purpose == "reposition")]
    assert len(new) == 1 and new[0].origin_pad != new[0].stops[-1]
    _assert_consistent(plan, prob, specs, {p.parcel_id: sched.drone_parcels.get(p.parcel_id, p) for p in parcels})


def test_with_time_to_spare_perishables_and_freight_share_loads_when_that_saves_sorties():
    """Perishables are packed apart from freight so that they never wait for it when drone time runs
    out; with most of the fleet idle (500 parcels / 40 drones) that only costs sorties, so `schedule`
    also plans with mixed loads and keeps that plan: fewer delivery sorties, the same perishables on
    time and no parcel less served, every drone's day a chain and every limit kept."""
    specs, parcels, prob, est = _instance(500, drones=40)
    plan, run = schedule(prob, est, seed=0)
    apart = Scheduler(prob, est, seed=0).run()
    assert run.mixed_loads
    assert plan.metrics["delivery_sorties"] < apart.metrics["delivery_sorties"]
    assert _missed(plan, parcels) == _missed(apart, parcels)
    assert len(plan.unassigned) <= len(apart.unassigned)
    _assert_consistent(plan, prob, specs, {p.parcel_id: run.drone_parcels.get(p.parcel_id, p) for p in parcels})


def test_a_fleet_short_of_time_keeps_perishables_apart_from_freight(monkeypatch):
    """With 8 drones for 1 500 parcels the fleet is busy most of the horizon: mixed loads would make
    perishables wait for freight and miss more deadlines, so `schedule` keeps them apart (and does
    not spend the time on a second plan)."""
    _, parcels, prob, est = _instance(1500, drones=8)
    runs = []
    original_run = Scheduler.run
    monkeypatch.setattr(Scheduler, "run", lambda self: runs.append(self.mixed_loads) or original_run(self))
    plan, run = schedule(prob, est, seed=0)
    assert runs == [False] and not run.mixed_loads
    mixed = Scheduler(prob, est, seed=0, mixed_loads=True).run()
    assert len(_missed(mixed, parcels)) > len(_missed(plan, parcels))
