"""Outbox -> controller, manifest and commands <- controller, over HTTP, whenever the link allows.

Protocol (controller side: ``controller/api/routes/lockers.py``)::

    POST {base}/api/v1/lockers/{id}/events    {"events": [{"event_uid", "kind", "at", "payload"}…]}
         -> {"accepted": [uid…], "duplicates": [uid…], "rejected": [{"event_uid", "code", "message"}…]}
    GET  {base}/api/v1/lockers/{id}/manifest  -> {"parcels": [{"parcel_id", "code_hmac", "issued_at", "size",
                                                              …}…]}
    GET  {base}/api/v1/lockers/{id}/commands  -> {"commands": [{"command_id", "action": "open", "board",
                                                               "lock", "reason"}…]}

Every event carries its uid; the controller stores each uid once, so an event re-sent after a lost
reply is acknowledged without being applied twice. An event is marked sent only once the controller
listed its uid (accepted, duplicate or rejected — a rejected event is stored there and alerted, so
re-sending it cannot help).

A code the controller re-issued reaches the locker with the manifest; the agent adopts it if it is
newer than its own (``LockerService.load_manifest``) and reports that as a ``code_replaced`` event,
pushed in the same round.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from locker_driver.agent.clock import Clock
from locker_driver.agent.service import LockerService, ManifestApplied
from locker_driver.agent.store import Store

log = logging.getLogger(__name__)


class SyncUnavailable(Exception):
    """The controller could not be reached or answered with an error; try again later."""


@dataclass(frozen=True, kw_only=True)
class SyncReport:
    """One round: events sent (new + duplicates), manifest parcels added, re-issued codes adopted,
    commands run."""

    sent: int
    duplicates: int
    rejected: int
    manifest_added: int
    commands_run: int
    codes_replaced: int = 0


class SyncClient:
    """Talks to the controller at ``base_url`` as the locker's own kiosk user (bearer ``token``).

    Parameters:
        batch_size: events per POST.
        backoff_base_s / backoff_max_s: wait after a failed round, doubling up to the max, in s.
        interval_s: wait between successful rounds, in s.
        transport: optional httpx transport (tests may pass an ASGI transport; the agent uses HTTP).
    """

    def __init__(self, *, base_url: str, token: str, locker_id: str, service: LockerService, store: Store,
                 clock: Clock, batch_size: int = 100, interval_s: float = 5.0, backoff_base_s: float = 1.0,
                 backoff_max_s: float = 60.0, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._locker_id = locker_id
        self._service = service
        self._store = store
        self._clock = clock
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport,
                                       headers={"Authorization": f"Bearer {token}"})
        self.failures = 0  # consecutive failed rounds

    async def aclose(self) -> None:
        await self._http.aclose()

    def _path(self, tail: str) -> str:
        return f"/api/v1/lockers/{self._locker_id}/{tail}"

    async def _request(self, method: str, tail: str, body: Any = None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, self._path(tail), json=body)
        except httpx.HTTPError as error:
            raise SyncUnavailable(f"{method} {tail}: {error.__class__.__name__}") from error
        if response.status_code >= 400:
            raise SyncUnavailable(f"{method} {tail}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    async def push(self) -> tuple[int, int, int]:
        """Send every pending event in batches; return ``(accepted, duplicates, rejected)``.

        Raises:
            SyncUnavailable: the controller is down (events stay pending).
        """
        totals = [0, 0, 0]
        # Nothing leaves the locker before it is on disk: an event recorded without fsync and lost in a
        # power cut is recorded again (the door is read again), so it must not have been sent already.
        await asyncio.to_thread(self._store.flush, always=True)
        while batch := self._store.pending_events(self.batch_size):
            reply = await self._request("POST", "events", {"events": [
                {"event_uid": e.event_uid, "kind": e.kind, "at": e.at.isoformat(), "payload": e.payload}
                for e in batch]})
            rejected = [r["event_uid"] for r in reply.get("rejected", [])]
            for item in reply.get("rejected", []):
                log.error("controller rejected event %s: %s", item["event_uid"], item.get("message"))
            acknowledged = [*reply.get("accepted", []), *reply.get("duplicates", []), *rejected]
            sent = {e.event_uid for e in batch}
            self._store.mark_sent([uid for uid in acknowledged if uid in sent], self._clock.now())
            totals[0] += len(reply.get("accepted", []))
            totals[1] += len(reply.get("duplicates", []))
            totals[2] += len(rejected)
            if not sent & set(acknowledged):
                raise SyncUnavailable("controller acknowledged none of the batch")
        return totals[0], totals[1], totals[2]

    async def pull_manifest(self) -> ManifestApplied:
        """Fetch codes of parcels assigned to this locker; return how many are new and how many replaced."""
        reply = await self._request("GET", "manifest")
        return self._service.load_manifest(reply.get("parcels", []))

    async def run_commands(self) -> int:
        """Run pending admin commands once each (their outcome is an event); return how many ran."""
        reply = await self._request("GET", "commands")
        ran = 0
        for command in reply.get("commands", []):
            key = f"command:{command['command_id']}"
            if self._store.meta(key) is not None or command.get("action") != "open":
                continue
            self._store.set_meta(key, "done")  # first: a crash mid-way must not open a door twice
            await self._service.remote_open(board=int(command["board"]), lock=int(command["lock"]),
                                            command_id=str(command["command_id"]),
                                            reason=str(command.get("reason", "")))
            ran += 1
        return ran

    async def sync_once(self) -> SyncReport:
        """One round: push events, pull the manifest, run commands, push what those two recorded.

        Raises:
            SyncUnavailable: the controller is unreachable; nothing is lost.
        """
        accepted, duplicates, rejected = await self.push()
        applied = await self.pull_manifest()
        ran = await self.run_commands()
        more = await self.push() if ran or applied.replaced else (0, 0, 0)
        return SyncReport(sent=accepted + more[0], duplicates=duplicates + more[1], rejected=rejected + more[2],
                          manifest_added=applied.added, commands_run=ran, codes_replaced=applied.replaced)

    def next_wait_s(self) -> float:
        """Return the wait before the next round: the interval, or the back-off after failures, in s."""
        if self.failures == 0:
            return self.interval_s
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** (self.failures - 1))

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set, backing off while the controller is unreachable."""
        while not stop.is_set():
            try:
                await self.sync_once()
                self.failures = 0
            except SyncUnavailable as error:
                self.failures += 1
                log.info("controller unreachable (%s); retrying in %.1f s", error, self.next_wait_s())
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.next_wait_s())
            except TimeoutError:
                pass
