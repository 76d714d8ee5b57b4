"""The simulated network's bus lockers are the real stack: board simulator on a pty, locker agent,
sync over loopback HTTP. A parcel waiting at the hub is loaded by the courier while the bus stands
there and collected at the village with the code from the SMS; the controller's tracking comes from
the agent's events."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from controller.cli.demo import prepare_database
from controller.db.engine import make_engine, make_session_factory, transaction
from controller.db.models import LockerEvent, Parcel, TrackingEvent
from controller.demo.network import NetworkConfig
from controller.demo.runtime import free_port, run_day
from controller.demo.trickle import TrickleRates
from controller.domain.parcel_input import ParcelInput
from controller.domain.parcel_states import ParcelState
from controller.scenario import load_scenario
from controller.services import parcels
from tests.conftest import make_settings

LOCKER = "locker-bus-huaniao-1"
AGENT = f"locker:{LOCKER}"
HUB, VILLAGE = "huaniao-station", "dengta-village"


def test_a_village_parcel_rides_the_real_bus_locker_and_is_collected(sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(sqlite_url, tmp_path)
    scenario = load_scenario(settings.scenario)
    tz = ZoneInfo(scenario.timezone)
    # 07:20 local: the huaniao-1 bus stands at the hub until its 07:30 run reaches the village at 07:50.
    start_at = datetime.combine(datetime(2026, 12, 1).date(), time(7, 20), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    prepare_database(settings, scenario)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:  # seeded: a parcel already at the hub for the village
        parcels.create_parcel(session, data=ParcelInput(
            id="SEED-LM1", origin=HUB, destination=VILLAGE, weight_kg=1.0, length_cm=20, width_cm=15, height_cm=10,
            recipient_phone="13800000000"), actor="test", at=start_at - timedelta(minutes=30))
        parcels.transition_parcel(session, parcel_id="SEED-LM1", to_state=ParcelState.AT_SERVICE_POINT,
                                  actor="test", place_id=HUB, reason="arrived at the hub by ferry",
                                  at=start_at - timedelta(minutes=20))
    config = NetworkConfig(speedup=120.0, seed=1, pickup_delay_s=(0.0, 60.0), parcel_prefix="BL-",
                           rates=TrickleRates(down_per_h=2.0, up_per_h=1.0, backlog_down=1, backlog_up=0))
    result = asyncio.run(run_day(settings=settings, scenario=scenario, config=config, start_at=start_at,
                                 hours=0.75, host="127.0.0.1", port=free_port()))
    assert not result.interrupted
    with factory() as session:
        steps = session.execute(select(TrackingEvent.to_state, TrackingEvent.actor, TrackingEvent.place_id)
                                .where(TrackingEvent.parcel_id == "SEED-LM1").order_by(TrackingEvent.id)).all()
        kinds = set(session.scalars(select(LockerEvent.kind).where(LockerEvent.locker_id == LOCKER)))
        final = session.get(Parcel, "SEED-LM1")
        assert final is not None
        final_state = final.state
        agent_steps = {(s.to_state, s.actor) for s in steps}
        # Every parcel that reached a bus locker got there through an agent's event.
        locker_actors = set(session.scalars(select(TrackingEvent.actor).where(
            TrackingEvent.to_state == ParcelState.AT_LOCKER.value)))
    engine.dispose()
    assert ("at_locker", AGENT) in agent_steps and ("picked_up", AGENT) in agent_steps, steps
    assert final_state == "picked_up"
    assert {"deposit", "pickup", "position"} <= kinds
    at_locker = next(s for s in steps if s.to_state == "at_locker")
    picked = next(s for s in steps if s.to_state == "picked_up")
    assert at_locker.place_id == HUB and picked.place_id == VILLAGE, steps
    assert locker_actors and all(a.startswith("locker:") for a in locker_actors), locker_actors
    assert result.network.stats.pickups >= 1
    assert (tmp_path / "demo-lockers" / "lockers" / f"{LOCKER}.sqlite").exists()
