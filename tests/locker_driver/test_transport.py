"""Transport over pyserial's loop:// (a real pyserial port that hands back every byte written)."""

from __future__ import annotations

from locker_driver.protocol import encode_query
from locker_driver.transport import SerialTransport, wire_time_s


def test_loop_url_behaves_like_an_echoing_adapter_without_suppression() -> None:
    transport = SerialTransport.open("loop://")
    try:
        frame = encode_query(1, 1)
        transport.write(frame)
        assert transport.read(64, 0.5) == frame
    finally:
        transport.close()


def test_echo_suppression_drops_exactly_the_copy_of_the_frame() -> None:
    transport = SerialTransport.open("loop://", echo=True)
    try:
        transport.write(encode_query(1, 1))
        assert transport.read(64, 0.05) == b""
        assert transport.echo_misses == 0
    finally:
        transport.close()


def test_discard_input_drops_unread_bytes() -> None:
    transport = SerialTransport.open("loop://")
    try:
        transport.write(b"\x01\x02\x03")
        transport.discard_input()
        assert transport.read(64, 0.05) == b""
    finally:
        transport.close()


def test_defaults_are_9600_baud_and_a_3_5_character_gap() -> None:
    transport = SerialTransport.open("loop://")
    try:
        assert transport.baudrate == 9600
        assert abs(transport.inter_frame_gap_s - 3.5 * 10 / 9600) < 1e-9
    finally:
        transport.close()


def test_wire_time_counts_ten_bits_per_byte() -> None:
    assert wire_time_s(960, 9600) == 1.0


def test_a_pty_is_read_from_its_descriptor_and_a_vanished_device_is_a_link_error() -> None:
    import os

    import pytest

    from locker_driver.errors import LinkError

    master, slave = os.openpty()
    transport = SerialTransport.open(os.ttyname(slave))
    os.close(slave)
    try:
        assert transport.read(64, 0.02) == b""  # nothing sent: the timeout
        os.write(master, b"\x80\x01")
        os.write(master, b"\x02\x33")
        received = b""
        while len(received) < 4:  # what has arrived, in as many reads as it takes
            chunk = transport.read(64, 0.5)
            assert chunk
            received += chunk
        assert received == b"\x80\x01\x02\x33"
        os.write(master, b"\x01\x02\x03")
        assert transport.read(2, 0.5) == b"\x01\x02"  # never more than asked
        assert transport.read(2, 0.5) == b"\x03"
        os.close(master)  # the adapter is unplugged
        master = -1
        with pytest.raises(LinkError):
            transport.read(64, 0.5)
    finally:
        transport.close()
        if master >= 0:
            os.close(master)
