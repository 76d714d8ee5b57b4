"""Parcels: intake, lookup, listing, tracking timeline, scans, CSV import."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from controller.api.deps import FIELD, STAFF, SessionDep, allow, run_read, run_write
from controller.api.schemas import ImportResult, ImportRowError, ParcelOut, ParcelPage, ScanIn, TrackingEventOut
from controller.db.models import User
from controller.domain.parcel_input import ParcelInput
from controller.domain.parcel_states import ParcelState
from controller.services import parcel_import, parcels

router = APIRouter(prefix="/api/v1/parcels", tags=["parcels"])

FieldUser = Annotated[User, Depends(allow(*FIELD))]
StaffUser = Annotated[User, Depends(allow(*STAFF))]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ParcelOut)
def create_parcel(body: ParcelInput, session: SessionDep, user: FieldUser) -> ParcelOut:
    """Register a parcel received at its origin service point."""
    with session.begin():
        parcel = parcels.create_parcel(session, data=body, actor=user.name)
    return ParcelOut.model_validate(parcel)


@router.get("", response_model=ParcelPage)
def list_parcels(
    session: SessionDep, _: FieldUser,
    state: Annotated[list[ParcelState] | None, Query()] = None,
    origin: str | None = None, destination: str | None = None, direction: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ParcelPage:
    """Parcels, newest first, filtered by state(s), origin, destination, direction."""
    rows, total = parcels.list_parcels(session, states=state or (), origin=origin, destination=destination,
                                       direction=direction, limit=limit, offset=offset)
    return ParcelPage(items=[ParcelOut.model_validate(p) for p in rows], total=total, limit=limit, offset=offset)


@router.get("/{parcel_id}", response_model=ParcelOut)
async def get_parcel(parcel_id: str, request: Request, _: FieldUser) -> ParcelOut:
    """One parcel by barcode or RFID tag."""
    return await run_read(request, lambda session: ParcelOut.model_validate(parcels.parcel_row(session, parcel_id)))


@router.get("/{parcel_id}/events", response_model=list[TrackingEventOut])
def parcel_events(parcel_id: str, session: SessionDep, _: FieldUser) -> list[TrackingEventOut]:
    """The parcel's full tracking timeline, oldest first."""
    return [TrackingEventOut.model_validate(e) for e in parcels.tracking_events(session, parcel_id)]


@router.post("/{parcel_id}/scan", response_model=TrackingEventOut)
async def scan_parcel(parcel_id: str, body: ScanIn, request: Request, user: FieldUser) -> TrackingEventOut:
    """Record a scan that moves the parcel to ``to_state`` (409 if its state machine forbids it)."""
    scan = {"parcel_id": parcel_id, "to_state": body.to_state, "actor": user.name, "place_id": body.place_id,
            "scanned_code": body.scanned_code or parcel_id, "reason": body.reason, "event_uid": body.event_uid}
    event = await run_write(request, lambda session: parcels.scan_parcel(session, **scan),
                            lambda connection, dialect: parcels.scan_parcel_sqlite(connection, dialect, **scan))
    return TrackingEventOut.model_validate(event)


@router.post("/import", response_model=ImportResult)
async def import_parcels(request: Request, session: SessionDep, user: StaffUser) -> ImportResult:
    """Bulk-load parcels from a CSV body (text/csv); bad rows are reported, good rows kept."""
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    with session.begin():
        report = parcel_import.import_csv(session, text=text, actor=user.name)
    return ImportResult(imported=report.imported,
                        rejected=[ImportRowError(row=r.row, parcel_id=r.parcel_id, error=r.error)
                                  for r in report.rejected])
