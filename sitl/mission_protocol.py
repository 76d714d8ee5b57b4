"""ArduPilot's mission item transfer protocol (vehicle side), pure and clocked by the caller.

Follows ``GCS_MAVLink/MissionItemProtocol.cpp`` for the three stores (mission, fence, rally)::

    GCS                               vehicle
    MISSION_COUNT(n, type)  ───────►  (truncate mission to n; n = 0 -> ACK ACCEPTED at once)
                            ◄───────  MISSION_REQUEST(0)       (MISSION_REQUEST_INT if configured)
    MISSION_ITEM_INT(0)     ───────►  stored at once (mission, rally) or kept until the end (fence)
                            ◄───────  MISSION_REQUEST(1) …     re-sent after 1 s without an item
    MISSION_ITEM_INT(n-1)   ───────►
                            ◄───────  MISSION_ACK(ACCEPTED)    ("Flight plan received" for mission)

Rules kept from ArduPilot: an item with the wrong seq gets MISSION_ACK INVALID_SEQUENCE and the
upload goes on; items from another system/component get DENIED; a second MISSION_COUNT from the
uploader restarts, from anyone else is DENIED; count > capacity gets NO_SPACE; 8 s without an item
cancels the upload (MISSION_ACK OPERATION_CANCELLED + "Mission upload timeout"); download requests
during an upload are DENIED; a bad item ends the upload with its error (mission and rally keep what
was already written: uploads are not atomic). Times are simulated seconds (ArduPilot uses its
``millis()``, which SITL runs at the speed-up).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Protocol

from flight_plans.mission_item import MissionItem, MissionType
from sitl import mission_storage as ms

UPLOAD_TIMEOUT_S = 8.0
REREQUEST_INTERVAL_S = 1.0


@dataclass(frozen=True, kw_only=True)
class Peer:
    """Who sent a message: connection id, MAVLink system and component ids."""

    conn_id: int
    sysid: int
    compid: int


@dataclass(frozen=True, kw_only=True)
class SendAck:
    peer: Peer
    result: int
    mission_type: MissionType


@dataclass(frozen=True, kw_only=True)
class SendRequest:
    peer: Peer
    seq: int
    mission_type: MissionType


@dataclass(frozen=True, kw_only=True)
class SendCount:
    peer: Peer
    count: int
    mission_type: MissionType


@dataclass(frozen=True, kw_only=True)
class SendItem:
    peer: Peer
    item: MissionItem
    as_int: bool


@dataclass(frozen=True, kw_only=True)
class SendText:
    text: str
    severity: int = 6  # MAV_SEVERITY_INFO


Output = SendAck | SendRequest | SendCount | SendItem | SendText


class ItemStore(Protocol):
    """One of the vehicle's stores as the protocol sees it."""

    mission_type: MissionType
    max_items: int

    def count(self) -> int: ...
    def begin_upload(self, count: int) -> None: ...
    def put(self, item: MissionItem) -> None: ...  # raises ItemRejected
    def finish_upload(self) -> int: ...  # MAV_MISSION_RESULT
    def abort_upload(self) -> None: ...
    def get(self, seq: int) -> MissionItem | None: ...
    def clear(self) -> bool: ...


class MissionTransfer:
    """Upload/download state machine for one store."""

    def __init__(self, store: ItemStore) -> None:
        self.store = store
        self.receiving = False
        self._peer: Peer | None = None
        self._request_i = 0
        self._request_last = -1
        self._last_receive_s = 0.0
        self._last_request_s = 0.0
        self._request_warned = False

    @property
    def _type(self) -> MissionType:
        return self.store.mission_type

    def _request(self, now_s: float) -> SendRequest:
        assert self._peer is not None
        self._last_request_s = now_s
        return SendRequest(peer=self._peer, seq=self._request_i, mission_type=self._type)

    def handle_count(self, peer: Peer, count: int, now_s: float) -> list[Output]:
        """Handle MISSION_COUNT (start or restart an upload)."""
        if self.receiving:
            if (peer.sysid, peer.compid) != (self._peer.sysid, self._peer.compid):  # type: ignore[union-attr]
                return [SendAck(peer=peer, result=ms.MISSION_DENIED, mission_type=self._type)]
            self.store.abort_upload()
            self.receiving = False
        if count > self.store.max_items:
            return [
                SendAck(peer=peer, result=ms.MISSION_NO_SPACE, mission_type=self._type),
                SendText(text=f"Only {self.store.max_items} items are supported", severity=4),
            ]
        self.store.begin_upload(count)
        if count == 0:
            result = self.store.finish_upload()
            return [SendAck(peer=peer, result=result, mission_type=self._type), *self._complete_texts()]
        self.receiving = True
        self._peer = peer
        self._request_i = 0
        self._request_last = count - 1
        self._last_receive_s = now_s
        return [self._request(now_s)]

    def _complete_texts(self) -> list[Output]:
        if self._type == MissionType.MISSION:
            return [SendText(text="Flight plan received")]
        return []

    def handle_item(self, peer: Peer, item: MissionItem, now_s: float) -> list[Output]:
        """Handle MISSION_ITEM_INT / MISSION_ITEM (already converted to integer lat/lon)."""
        if not self.receiving or self._peer is None:
            # ArduPilot only routes items to a protocol that is receiving; others are dropped.
            return []
        if item.seq != self._request_i:
            return [SendAck(peer=peer, result=ms.MISSION_INVALID_SEQUENCE, mission_type=self._type)]
        if (peer.sysid, peer.compid) != (self._peer.sysid, self._peer.compid):
            return [SendAck(peer=peer, result=ms.MISSION_DENIED, mission_type=self._type)]
        try:
            self.store.put(dataclasses.replace(item, mission_type=self._type))
        except ms.ItemRejected as rejected:
            self.receiving = False
            self.store.abort_upload()
            return [SendAck(peer=peer, result=rejected.result, mission_type=self._type)]
        self._last_receive_s = now_s
        self._request_i += 1
        if self._request_i > self._request_last:
            self.receiving = False
            result = self.store.finish_upload()
            texts = self._complete_texts() if result == ms.MISSION_ACCEPTED else []
            return [SendAck(peer=peer, result=result, mission_type=self._type), *texts]
        return [self._request(now_s)]

    def handle_request_list(self, peer: Peer) -> list[Output]:
        """Handle MISSION_REQUEST_LIST: answer MISSION_COUNT."""
        if self.receiving:
            return [SendAck(peer=peer, result=ms.MISSION_DENIED, mission_type=self._type)]
        return [SendCount(peer=peer, count=self.store.count(), mission_type=self._type)]

    def handle_request(self, peer: Peer, seq: int, *, as_int: bool) -> list[Output]:
        """Handle MISSION_REQUEST_INT (as_int) or legacy MISSION_REQUEST."""
        if self.receiving:
            return [SendAck(peer=peer, result=ms.MISSION_DENIED, mission_type=self._type)]
        item = self.store.get(seq)
        if item is None:
            out: list[Output] = []
            if self._type == MissionType.MISSION:
                # ArduPilot "educates the GCS on the actual size of the mission".
                out.append(SendCount(peer=peer, count=self.store.count(), mission_type=self._type))
            result = ms.MISSION_ERROR if self._type != MissionType.FENCE else ms.MISSION_INVALID_SEQUENCE
            return [*out, SendAck(peer=peer, result=result, mission_type=self._type)]
        out = []
        if not as_int and not self._request_warned:
            self._request_warned = True
            out.append(SendText(text="got MISSION_REQUEST; use MISSION_REQUEST_INT!", severity=4))
        return [*out, SendItem(peer=peer, item=item, as_int=as_int)]

    def handle_clear_all(self, peer: Peer) -> list[Output]:
        """Handle MISSION_CLEAR_ALL: ERROR while receiving or when the store refuses."""
        ok = not self.receiving and self.store.clear()
        result = ms.MISSION_ACCEPTED if ok else ms.MISSION_ERROR
        return [SendAck(peer=peer, result=result, mission_type=self._type)]

    def update(self, now_s: float) -> list[Output]:
        """Re-request after 1 s without an item; cancel after 8 s (simulated seconds)."""
        if not self.receiving or self._peer is None:
            return []
        if now_s - self._last_receive_s > UPLOAD_TIMEOUT_S:
            self.receiving = False
            self.store.abort_upload()
            label = {MissionType.MISSION: "Mission", MissionType.FENCE: "Fence",
                     MissionType.RALLY: "Rally"}[self._type]
            return [
                SendText(text=f"{label} upload timeout", severity=4),
                SendAck(peer=self._peer, result=ms.MISSION_OPERATION_CANCELLED, mission_type=self._type),
            ]
        if now_s - self._last_request_s > REREQUEST_INTERVAL_S:
            return [self._request(now_s)]
        return []


class MissionItems:
    """The mission store: item 0 is home; writes are immediate (not atomic), like AP_Mission."""

    mission_type = MissionType.MISSION

    def __init__(self, *, max_items: int, home: Callable[[], MissionItem],
                 can_clear: Callable[[], bool], on_change: Callable[[], None]) -> None:
        self.max_items = max_items
        self._home = home
        self._can_clear = can_clear
        self._on_change = on_change
        self.items: list[MissionItem] = [home()]

    def count(self) -> int:
        return len(self.items)

    def begin_upload(self, count: int) -> None:
        # AP_Mission::truncate: a new mission arriving shortens the stored one to its length.
        if count < len(self.items):
            del self.items[max(1, count):]
            self._on_change()

    def put(self, item: MissionItem) -> None:
        if item.seq == 0:
            ms.store_mission_item(item)  # still validated, but home is never overwritten by uploads
            return
        stored = ms.store_mission_item(item)
        if item.seq < len(self.items):
            self.items[item.seq] = stored
        elif item.seq == len(self.items):
            self.items.append(stored)
        else:
            raise ms.ItemRejected(ms.MISSION_ERROR)
        self._on_change()

    def finish_upload(self) -> int:
        self._on_change()
        return ms.MISSION_ACCEPTED

    def abort_upload(self) -> None:
        pass

    def get(self, seq: int) -> MissionItem | None:
        if seq == 0:
            return self._home()
        if 0 < seq < len(self.items):
            return self.items[seq]
        return None

    def clear(self) -> bool:
        if not self._can_clear():
            return False
        del self.items[1:]
        self._on_change()
        return True


class FenceItems:
    """The fence store: written at once when the upload completes and validates (atomic)."""

    mission_type = MissionType.FENCE

    def __init__(self, *, max_items: int, on_change: Callable[[], None]) -> None:
        self.max_items = max_items
        self._on_change = on_change
        self.items: list[MissionItem] = []
        self._pending: list[MissionItem | None] | None = None

    def count(self) -> int:
        return len(self._pending) if self._pending is not None else len(self.items)

    def begin_upload(self, count: int) -> None:
        self._pending = [None] * count

    def put(self, item: MissionItem) -> None:
        assert self._pending is not None
        if item.seq >= len(self._pending):
            raise ms.ItemRejected(ms.MISSION_INVALID_SEQUENCE)
        self._pending[item.seq] = ms.store_fence_item(item)

    def finish_upload(self) -> int:
        pending, self._pending = self._pending or [], None
        if any(item is None for item in pending):
            return ms.MISSION_ERROR
        new_items = [item for item in pending if item is not None]
        if not ms.fence_is_valid(new_items):
            return ms.MISSION_ERROR
        self.items = new_items
        self._on_change()
        return ms.MISSION_ACCEPTED

    def abort_upload(self) -> None:
        self._pending = None

    def get(self, seq: int) -> MissionItem | None:
        return self.items[seq] if 0 <= seq < len(self.items) else None

    def clear(self) -> bool:
        self.items = []
        self._on_change()
        return True


class RallyItems:
    """The rally store: truncated at MISSION_COUNT and written item by item, like AP_Rally."""

    mission_type = MissionType.RALLY

    def __init__(self, *, max_items: int, on_change: Callable[[], None]) -> None:
        self.max_items = max_items
        self._on_change = on_change
        self.items: list[MissionItem] = []

    def count(self) -> int:
        return len(self.items)

    def begin_upload(self, count: int) -> None:
        del self.items[count:]
        self._on_change()

    def put(self, item: MissionItem) -> None:
        stored = ms.store_rally_item(item)
        if item.seq < len(self.items):
            self.items[item.seq] = stored
        elif item.seq == len(self.items):
            self.items.append(stored)
        else:
            raise ms.ItemRejected(ms.MISSION_ERROR)
        self._on_change()

    def finish_upload(self) -> int:
        return ms.MISSION_ACCEPTED

    def abort_upload(self) -> None:
        pass

    def get(self, seq: int) -> MissionItem | None:
        return self.items[seq] if 0 <= seq < len(self.items) else None

    def clear(self) -> bool:
        self.items = []
        self._on_change()
        return True
