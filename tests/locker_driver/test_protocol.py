"""Byte-level tests of the generic 24-channel board codec (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locker_driver.errors import AddressError, BadFrame, RejectReason
from locker_driver.frames import (
    BoardQuery,
    BoardReply,
    DoorQuery,
    DoorReply,
    DoorState,
    UnlockReply,
    UnlockRequest,
)
from locker_driver.protocol import (
    ReplyDecoder,
    RequestDecoder,
    decode_reply,
    decode_request,
    encode_query,
    encode_query_all,
    encode_reply,
    encode_request,
    encode_unlock,
    xor,
)

boards = st.integers(0, 255)
locks = st.integers(1, 24)
masks = st.integers(0, (1 << 24) - 1)
# Noise without head bytes: a false head followed by the right bytes could pose as a valid frame
# (a 1-in-65536 coincidence no resynchronising decoder can rule out); false heads are tested
# explicitly below and in the simulator tests.
noise = st.binary(max_size=20).map(lambda b: bytes(x for x in b if x not in (0x80, 0x8A)))
requests = st.one_of(
    st.builds(UnlockRequest, board=boards, lock=st.integers(0, 24)),
    st.builds(DoorQuery, board=boards, lock=locks),
    st.builds(BoardQuery, board=boards),
)


@st.composite
def exchanges(draw):
    """A request and a reply the board could send to it."""
    request = draw(requests)
    match request:
        case UnlockRequest(board=b, lock=lock):
            reply = UnlockReply(board=b, lock=lock, opened=draw(st.booleans()) and lock != 0)
        case DoorQuery(board=b, lock=lock):
            reply = DoorReply(board=b, lock=lock, state=draw(st.sampled_from(DoorState)))
        case BoardQuery(board=b):
            reply = BoardReply(board=b, closed_mask=draw(masks))
    return request, reply


# -- known frames from the public sources ----------------------------------------------------


def test_known_request_frames() -> None:
    assert encode_unlock(1, 1) == bytes.fromhex("8A 01 01 11 9B")
    assert encode_unlock(1, 0) == bytes.fromhex("8A 01 00 11 9A")  # open all
    assert encode_query_all(1) == bytes.fromhex("80 01 00 33 B2")
    assert encode_query(1, 2) == bytes([0x80, 1, 2, 0x33, 0x80 ^ 1 ^ 2 ^ 0x33])


def test_known_query_all_reply_sets_locks_1_9_17_closed() -> None:
    reply = decode_reply(BoardQuery(board=1), bytes.fromhex("80 01 01 01 01 33 B3"))
    assert isinstance(reply, BoardReply)
    closed = [lock for lock, state in reply.states().items() if state is DoorState.CLOSED]
    assert closed == [1, 9, 17]


def test_query_all_byte_order_is_17_24_then_9_16_then_1_8() -> None:
    raw = encode_reply(BoardReply(board=3, closed_mask=1 << 23 | 1 << 8 | 1 << 2))
    assert raw[2:5] == bytes([0x80, 0x01, 0x04])  # lock 24, lock 9, lock 3


def test_unlock_reply_status_bytes() -> None:
    assert encode_reply(UnlockReply(board=1, lock=4, opened=True))[3] == 0x00
    not_opened = encode_reply(UnlockReply(board=1, lock=4, opened=False))
    assert not_opened[3] == 0x11
    # The documented ambiguity: "did not open" is byte-identical to the request.
    assert not_opened == encode_unlock(1, 4)


def test_door_reply_status_bytes() -> None:
    request = DoorQuery(board=2, lock=7)
    assert decode_reply(request, bytes([0x80, 2, 7, 0x00, 0x80 ^ 2 ^ 7])).state is DoorState.OPEN
    assert decode_reply(request, bytes([0x80, 2, 7, 0x11, 0x80 ^ 2 ^ 7 ^ 0x11])).state is DoorState.CLOSED


@pytest.mark.parametrize(("board", "lock"), [(-1, 1), (256, 1), (1, 25), (1, -1)])
def test_encode_rejects_out_of_range_addresses(board: int, lock: int) -> None:
    with pytest.raises(AddressError):
        encode_unlock(board, lock)


def test_query_needs_a_lock() -> None:
    with pytest.raises(AddressError):
        encode_query(1, 0)


# -- properties ------------------------------------------------------------------------------


@given(exchanges())
def test_reply_round_trip(exchange) -> None:
    request, reply = exchange
    raw = encode_reply(reply)
    assert xor(raw[:-1]) == raw[-1]
    assert decode_reply(request, raw) == reply


@given(requests)
def test_request_round_trip(request) -> None:
    assert decode_request(encode_request(request)) == request


@given(exchanges(), st.data())
def test_every_single_byte_corruption_is_rejected(exchange, data) -> None:
    request, reply = exchange
    raw = bytearray(encode_reply(reply))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(BadFrame):
        decode_reply(request, bytes(raw))


@given(exchanges(), st.data())
def test_every_truncation_or_extension_is_rejected(exchange, data) -> None:
    request, reply = exchange
    raw = encode_reply(reply)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(BadFrame) as info:
        decode_reply(request, raw[:cut])
    assert info.value.reason is RejectReason.LENGTH
    with pytest.raises(BadFrame):
        decode_reply(request, raw + data.draw(st.binary(min_size=1, max_size=3)))


@given(exchanges(), st.integers(1, 255))
def test_reply_for_another_board_is_rejected(exchange, delta) -> None:
    request, reply = exchange
    other = type(reply)(**{**reply.__dict__, "board": (reply.board + delta) % 256})
    with pytest.raises(BadFrame) as info:
        decode_reply(request, encode_reply(other))
    assert info.value.reason is RejectReason.ADDRESS


@given(st.builds(DoorQuery, board=boards, lock=locks), st.integers(1, 23), st.sampled_from(DoorState))
def test_reply_for_another_lock_is_rejected(request, delta, state) -> None:
    other = DoorReply(board=request.board, lock=(request.lock - 1 + delta) % 24 + 1, state=state)
    with pytest.raises(BadFrame) as info:
        decode_reply(request, encode_reply(other))
    assert info.value.reason is RejectReason.ADDRESS


@given(requests, st.data())
def test_every_single_byte_request_corruption_is_rejected(request, data) -> None:
    raw = bytearray(encode_request(request))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode_request(bytes(raw))
    except BadFrame:
        return
    # A single-byte change can still be a valid frame only if it keeps the checksum: impossible.
    pytest.fail(f"corrupted {raw.hex(' ')} decoded as {decoded}")


# -- incremental decoder ---------------------------------------------------------------------


def drain(decoder, chunks):
    """Feed ``chunks`` one at a time like reads from a port; return frames found."""
    buffer = bytearray()
    found = []
    for chunk in chunks:
        buffer += chunk
        while True:
            consumed, frame = decoder.feed(bytes(buffer))
            del buffer[:consumed]
            if frame is not None:
                found.append(frame)
            elif consumed == 0 or not buffer:
                break
    return found, bytes(buffer)


@given(exchanges(), noise, st.binary(max_size=20), st.data())
@settings(max_examples=200)
def test_decoder_finds_reply_amid_garbage_split_anywhere(exchange, before, after, data) -> None:
    request, reply = exchange
    stream = before + encode_reply(reply) + after
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    found, _ = drain(ReplyDecoder(request=request), chunks)
    assert reply in found


@given(exchanges())
def test_decoder_waits_for_split_frame(exchange) -> None:
    request, reply = exchange
    raw = encode_reply(reply)
    decoder = ReplyDecoder(request=request)
    for cut in range(len(raw)):
        assert decoder.feed(raw[:cut]) == (0, None)
    assert decoder.feed(raw) == (len(raw), reply)


def test_two_frames_in_one_read_yield_one_at_a_time() -> None:
    request = DoorQuery(board=1, lock=5)
    first = encode_reply(DoorReply(board=1, lock=5, state=DoorState.OPEN))
    second = encode_reply(DoorReply(board=1, lock=5, state=DoorState.CLOSED))
    decoder = ReplyDecoder(request=request)
    consumed, frame = decoder.feed(first + second)
    assert (consumed, frame) == (5, DoorReply(board=1, lock=5, state=DoorState.OPEN))
    assert decoder.feed(second) == (5, DoorReply(board=1, lock=5, state=DoorState.CLOSED))


def test_stray_frame_for_other_board_is_skipped_whole_and_recorded() -> None:
    request = DoorQuery(board=1, lock=5)
    stray = encode_reply(DoorReply(board=2, lock=5, state=DoorState.OPEN))
    mine = encode_reply(DoorReply(board=1, lock=5, state=DoorState.CLOSED))
    decoder = ReplyDecoder(request=request)
    found, rest = drain(decoder, [stray + mine])
    assert found == [DoorReply(board=1, lock=5, state=DoorState.CLOSED)] and rest == b""
    assert [r.reason for r in decoder.rejects] == [RejectReason.ADDRESS]


def test_bad_checksum_is_recorded_then_resynchronised() -> None:
    request = DoorQuery(board=1, lock=5)
    good = encode_reply(DoorReply(board=1, lock=5, state=DoorState.OPEN))
    bad = good[:-1] + bytes([good[-1] ^ 0x01])
    decoder = ReplyDecoder(request=request)
    found, _ = drain(decoder, [bad, good])
    assert found == [DoorReply(board=1, lock=5, state=DoorState.OPEN)]
    assert decoder.rejects[0].reason is RejectReason.CHECKSUM
    assert decoder.rejects[0].raw == bad


def test_truncated_frame_then_full_frame_resynchronises() -> None:
    request = UnlockRequest(board=1, lock=3)
    good = encode_reply(UnlockReply(board=1, lock=3, opened=True))
    found, _ = drain(ReplyDecoder(request=request), [good[:3], good])
    assert found == [UnlockReply(board=1, lock=3, opened=True)]


@pytest.mark.parametrize("request_", [DoorQuery(board=1, lock=5), BoardQuery(board=1)])
def test_echo_of_a_query_is_skipped(request_) -> None:
    reply = (
        DoorReply(board=1, lock=5, state=DoorState.OPEN)
        if isinstance(request_, DoorQuery)
        else BoardReply(board=1, closed_mask=0xFFFFFE)
    )
    decoder = ReplyDecoder(request=request_)
    found, rest = drain(decoder, [encode_request(request_), encode_reply(reply)])
    assert found == [reply] and rest == b""
    assert decoder.rejects == []  # an echo is expected, not a fault


@given(masks)
def test_query_all_reply_that_starts_like_its_echo_is_not_lost(mask) -> None:
    request = BoardQuery(board=1)
    raw = encode_reply(BoardReply(board=1, closed_mask=mask))
    found, _ = drain(ReplyDecoder(request=request), [raw[:5], raw[5:]])
    assert found == [BoardReply(board=1, closed_mask=mask)]


def test_request_decoder_ignores_replies_of_other_boards_on_the_line() -> None:
    reply = encode_reply(DoorReply(board=2, lock=1, state=DoorState.OPEN))
    query = encode_query(1, 1)
    decoder = RequestDecoder()
    found, _ = drain(decoder, [reply + b"\x00\xff" + query])
    assert found == [DoorQuery(board=1, lock=1)]
    assert decoder.rejects  # the reply was looked at and refused


@given(st.lists(requests, min_size=1, max_size=4), noise)
def test_request_decoder_recovers_every_request_from_a_stream(reqs, garbage) -> None:
    stream = garbage + b"".join(encode_request(r) for r in reqs)
    found, _ = drain(RequestDecoder(), [stream])
    assert found == reqs
