"""Sans-I/O tests of the mission upload/download state machines: no sockets, a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.vehicle.dialect import mavlink2 as m
from controller.vehicle.errors import MissionAckError, MissionMismatch, MissionTimeout
from controller.vehicle.mission_protocol import (
    MissionDownloader,
    MissionTiming,
    MissionUploader,
    TransferState,
    compare_items,
    item_to_message,
    message_to_item,
    verify_items,
)
from flight_plans.mission_item import MissionItem, MissionType
from vehicle_missions import fence_items, rally_items, sortie_items

MISSION = int(MissionType.MISSION)


def req_int(seq, mt=MISSION):
    return m.MAVLink_mission_request_int_message(255, 190, seq, mt)


def req(seq, mt=MISSION):
    return m.MAVLink_mission_request_message(255, 190, seq, mt)


def ack(result, mt=MISSION):
    return m.MAVLink_mission_ack_message(255, 190, result, mt)


def types(msgs):
    return [x.get_type() for x in msgs]


def test_upload_happy_path_answers_int_requests_in_order():
    items = sortie_items(3)
    up = MissionUploader(items, mission_type=MissionType.MISSION, target_system=1)
    out = up.start(now_s=0.0)
    assert types(out) == ["MISSION_COUNT"] and out[0].count == len(items)
    for seq in range(len(items)):
        out = up.on_message(req_int(seq), now_s=0.1 * seq)
        assert types(out) == ["MISSION_ITEM_INT"]
        assert message_to_item(out[0]) == items[seq]
    assert not up.finished
    assert up.on_message(ack(m.MAV_MISSION_ACCEPTED), now_s=1.0) == []
    assert up.state is TransferState.DONE and up.failure is None


def test_upload_answers_legacy_request_with_int_by_default_and_float_when_asked():
    items = sortie_items(1)
    up = MissionUploader(items, mission_type=MissionType.MISSION, target_system=1)
    up.start(now_s=0.0)
    assert types(up.on_message(req(0), now_s=0.0)) == ["MISSION_ITEM_INT"]
    strict = MissionUploader(items, mission_type=MissionType.MISSION, target_system=1,
                             reply_float_to_request=True)
    strict.start(now_s=0.0)
    out = strict.on_message(req(2), now_s=0.0)
    assert types(out) == ["MISSION_ITEM"]
    assert message_to_item(out[0]).x == items[2].x  # 1e-7 deg survives the float64 field here


def test_upload_duplicate_and_out_of_order_requests_are_answered_and_stale_ack_ignored():
    items = sortie_items(2)  # 5 items
    up = MissionUploader(items, mission_type=MissionType.MISSION, target_system=1)
    up.start(now_s=0.0)
    up.on_message(req_int(0), now_s=0.0)
    up.on_message(req_int(1), now_s=0.0)
    # Duplicate of 1 and a re-request of 0: each answered with that item.
    assert up.on_message(req_int(1), now_s=0.0)[0].seq == 1
    assert up.on_message(req_int(0), now_s=0.0)[0].seq == 0
    # An ACCEPTED before every item was sent is a stale ack from an earlier transfer.
    up.on_message(ack(m.MAV_MISSION_ACCEPTED), now_s=0.0)
    assert not up.finished
    # Out-of-range request and other mission types are ignored.
    assert up.on_message(req_int(99), now_s=0.0) == []
    assert up.on_message(req_int(2, mt=int(MissionType.FENCE)), now_s=0.0) == []
    for seq in (2, 3, 4):
        up.on_message(req_int(seq), now_s=0.0)
    up.on_message(ack(m.MAV_MISSION_INVALID_SEQUENCE), now_s=0.0)  # ArduPilot keeps going after this
    assert not up.finished and up.invalid_sequence_acks == 1
    up.on_message(ack(m.MAV_MISSION_ACCEPTED), now_s=0.0)
    assert up.state is TransferState.DONE


@pytest.mark.parametrize("result", [m.MAV_MISSION_NO_SPACE, m.MAV_MISSION_DENIED,
                                    m.MAV_MISSION_OPERATION_CANCELLED, m.MAV_MISSION_ERROR,
                                    m.MAV_MISSION_UNSUPPORTED_FRAME])
def test_upload_error_ack_fails_with_result_and_type(result):
    up = MissionUploader(fence_items(), mission_type=MissionType.FENCE, target_system=1)
    up.start(now_s=0.0)
    out = up.on_message(ack(result, mt=int(MissionType.FENCE)), now_s=0.1)
    assert out == []  # the vehicle ended it; nothing to cancel
    assert up.state is TransferState.FAILED
    assert isinstance(up.failure, MissionAckError)
    assert up.failure.result == result and up.failure.mission_type == int(MissionType.FENCE)


def test_upload_resends_count_then_gives_up_after_five_retries_and_cancels():
    timing = MissionTiming(handshake_timeout_s=1.5, max_retries=5)
    up = MissionUploader(rally_items(), mission_type=MissionType.RALLY, target_system=1, timing=timing)
    assert types(up.start(now_s=0.0)) == ["MISSION_COUNT"]
    assert up.on_tick(1.4) == []  # not yet
    now = 0.0
    for attempt in range(5):
        now += 1.5
        out = up.on_tick(now)
        assert types(out) == ["MISSION_COUNT"], attempt
    now += 1.5
    out = up.on_tick(now)
    assert types(out) == ["MISSION_ACK"] and out[0].type == m.MAV_MISSION_OPERATION_CANCELLED
    assert isinstance(up.failure, MissionTimeout)
    assert (up.failure.stage, up.failure.seq, up.failure.attempts) == ("request", 0, 6)


def test_upload_progress_resets_the_retry_budget():
    up = MissionUploader(sortie_items(1), mission_type=MissionType.MISSION, target_system=1,
                         timing=MissionTiming(request_timeout_s=1.0, max_retries=2))
    up.start(now_s=0.0)
    up.on_message(req_int(0), now_s=0.0)
    assert types(up.on_tick(1.0)) == ["MISSION_ITEM_INT"]  # resend item 0
    assert types(up.on_tick(2.0)) == ["MISSION_ITEM_INT"]
    up.on_message(req_int(1), now_s=2.5)  # progress: budget restored
    assert up.on_tick(3.5)[0].seq == 1
    assert up.on_tick(4.5)[0].seq == 1
    assert not up.finished
    out = up.on_tick(5.5)
    assert up.failure is not None and up.failure.seq == 1 and types(out) == ["MISSION_ACK"]


def test_upload_of_zero_items_completes_on_ack():
    up = MissionUploader([], mission_type=MissionType.FENCE, target_system=1)
    assert up.start(now_s=0.0)[0].count == 0
    up.on_message(ack(m.MAV_MISSION_ACCEPTED, mt=int(MissionType.FENCE)), now_s=0.1)
    assert up.state is TransferState.DONE


def test_uploader_rejects_misnumbered_or_mistyped_items():
    with pytest.raises(ValueError):
        MissionUploader([MissionItem(seq=1, command=16)], mission_type=MissionType.MISSION, target_system=1)
    with pytest.raises(ValueError):
        MissionUploader(fence_items(), mission_type=MissionType.MISSION, target_system=1)


def _vehicle_item(item: MissionItem):
    return item_to_message(item, target_system=255, target_component=190)


def test_download_happy_path_with_duplicate_count_and_items():
    items = fence_items()
    fence = int(MissionType.FENCE)
    down = MissionDownloader(mission_type=MissionType.FENCE, target_system=1)
    assert types(down.start(now_s=0.0)) == ["MISSION_REQUEST_LIST"]
    out = down.on_message(m.MAVLink_mission_count_message(255, 190, len(items), fence), now_s=0.0)
    assert types(out) == ["MISSION_REQUEST_INT"] and out[0].seq == 0
    assert down.on_message(m.MAVLink_mission_count_message(255, 190, len(items), fence), now_s=0.0) == []
    for item in items:
        out = down.on_message(_vehicle_item(item), now_s=0.0)
        assert down.on_message(_vehicle_item(item), now_s=0.0) == []  # duplicate ignored
    assert types(out) == ["MISSION_ACK"] and out[0].type == m.MAV_MISSION_ACCEPTED
    assert down.state is TransferState.DONE and down.items == items


def test_download_re_requests_lost_items_and_ignores_out_of_order():
    items = sortie_items(2)
    down = MissionDownloader(mission_type=MissionType.MISSION, target_system=1)
    down.start(now_s=0.0)
    assert types(down.on_tick(1.5)) == ["MISSION_REQUEST_LIST"]  # COUNT lost
    down.on_message(m.MAVLink_mission_count_message(255, 190, len(items), MISSION), now_s=1.6)
    assert down.on_message(_vehicle_item(items[1]), now_s=1.7) == []  # out of order
    out = down.on_tick(1.6 + 0.25)
    assert types(out) == ["MISSION_REQUEST_INT"] and out[0].seq == 0
    for item in items:
        down.on_message(_vehicle_item(item), now_s=2.0)
    assert down.items == items


def test_download_of_empty_store_acks_and_finishes():
    down = MissionDownloader(mission_type=MissionType.RALLY, target_system=1)
    down.start(now_s=0.0)
    out = down.on_message(m.MAVLink_mission_count_message(255, 190, 0, int(MissionType.RALLY)), now_s=0.0)
    assert types(out) == ["MISSION_ACK"] and down.items == [] and down.state is TransferState.DONE


def test_download_exhausts_item_retries():
    down = MissionDownloader(mission_type=MissionType.MISSION, target_system=1,
                             timing=MissionTiming(item_timeout_s=0.25, max_retries=5))
    down.start(now_s=0.0)
    down.on_message(m.MAVLink_mission_count_message(255, 190, 3, MISSION), now_s=0.0)
    now = 0.0
    for _ in range(6):
        now += 0.25
        down.on_tick(now)
    assert isinstance(down.failure, MissionTimeout)
    assert (down.failure.stage, down.failure.seq, down.failure.attempts) == ("item", 0, 6)


def test_download_error_ack_fails():
    down = MissionDownloader(mission_type=MissionType.MISSION, target_system=1)
    down.start(now_s=0.0)
    down.on_message(ack(m.MAV_MISSION_DENIED), now_s=0.0)
    assert isinstance(down.failure, MissionAckError) and down.failure.result == m.MAV_MISSION_DENIED


def test_compare_skips_home_and_rounds_like_the_autopilot():
    up = sortie_items(2)
    back = [MissionItem(**{**vars(i), "frame": 6 if i.frame == 3 else i.frame}) for i in up]
    back[0] = MissionItem(seq=0, command=16, x=1, y=2, z=3.0)  # home overwritten by the vehicle
    back[2] = MissionItem(**{**vars(up[2]), "z": up[2].z + 1e-7, "current": 1})
    assert compare_items(up, back, mission_type=MissionType.MISSION) == []
    # For FENCE, seq 0 is compared.
    fence = fence_items()
    moved = [MissionItem(**{**vars(fence[0]), "x": fence[0].x + 1})] + fence[1:]
    diffs = compare_items(fence, moved, mission_type=MissionType.FENCE)
    assert diffs == [f"seq 0 x: uploaded {fence[0].x}, vehicle has {fence[0].x + 1}"]


def test_verify_reports_count_and_field_differences():
    up = sortie_items(2)
    back = up[:-1] + [MissionItem(**{**vars(up[-1]), "command": 20})]
    with pytest.raises(MissionMismatch) as info:
        verify_items(up, back[:-1], mission_type=MissionType.MISSION)
    assert info.value.differences[0].startswith("count")
    with pytest.raises(MissionMismatch) as info:
        verify_items(up, back, mission_type=MissionType.MISSION)
    assert info.value.differences == [f"seq {len(up) - 1} command: uploaded 21, vehicle has 20"]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_waypoints=st.integers(0, 8))
def test_upload_converges_through_a_lossy_duplicating_toy_vehicle(seed, n_waypoints):
    """A toy vehicle with a lossy, duplicating channel: the machines still converge on the same list."""
    import random

    rnd = random.Random(seed)
    items = sortie_items(n_waypoints)
    up = MissionUploader(items, mission_type=MissionType.MISSION, target_system=1,
                         timing=MissionTiming(max_retries=50))
    stored: list = []
    expected_seq = 0
    now = 0.0
    inbox = list(up.start(now_s=now))
    for _ in range(10_000):
        if up.finished:
            break
        now += 0.5
        replies = []
        for msg in inbox:
            if rnd.random() < 0.3:
                continue  # lost on the way to the vehicle
            copies = 2 if rnd.random() < 0.1 else 1
            for _copy in range(copies):
                t = msg.get_type()
                if t == "MISSION_COUNT":
                    stored, expected_seq = [], 0
                    replies.append(req_int(0))
                elif t == "MISSION_ITEM_INT":
                    if expected_seq == len(items) and msg.seq == len(items) - 1:
                        replies.append(ack(m.MAV_MISSION_ACCEPTED))  # our final ACK was lost: repeat it
                        continue
                    if msg.seq != expected_seq:
                        replies.append(ack(m.MAV_MISSION_INVALID_SEQUENCE))
                        continue
                    stored.append(message_to_item(msg))
                    expected_seq += 1
                    replies.append(req_int(expected_seq) if expected_seq < len(items)
                                   else ack(m.MAV_MISSION_ACCEPTED))
        if not replies and 0 < expected_seq < len(items):
            replies.append(req_int(expected_seq))  # the vehicle's own re-request timeout
        inbox = []
        for reply in replies:
            if rnd.random() < 0.3:
                continue
            inbox.extend(up.on_message(reply, now_s=now))
        inbox.extend(up.on_tick(now))
    assert up.state is TransferState.DONE
    assert stored == items
