"""Read parcels from CSV: good rows become `Parcel`s, bad rows are reported, never dropped silently.

Columns: id, origin, destination, weight_kg, length_cm, width_cm, height_cm, priority, ready_at,
due_at (times optional, ISO-8601; naive times are local to the scenario); extra columns are ignored
except `kind`, used to recognise perishables.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime, tzinfo

from controller.scheduling.model import Parcel

REQUIRED = ("id", "origin", "destination", "weight_kg", "length_cm", "width_cm", "height_cm")
PERISHABLE_KINDS = frozenset({"seafood", "mussels", "fish", "fresh", "agri", "pharmacy", "perishable"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RejectedRow:
    """A CSV row that could not become a parcel: 1-based data row number (header excluded) and why."""

    row: int
    error: str


def _time(value: str, tz: tzinfo) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    t = datetime.fromisoformat(value)
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


def _positive(row: dict[str, str], name: str) -> float:
    v = float(row[name])
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive number, got {row[name]!r}")
    return v


def parse_parcels_csv(text: str, *, default_ready_at: datetime, tz: tzinfo
                      ) -> tuple[list[Parcel], list[RejectedRow]]:
    """Parse CSV `text` into parcels and rejected rows.

    Parameters
    ----------
    text: the CSV document (header row first).
    default_ready_at: ready time (aware) for rows without `ready_at`.
    tz: zone for naive timestamps (the scenario's local time).

    Raises
    ------
    ValueError: the header lacks a required column (nothing can be read).
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    parcels: list[Parcel] = []
    rejected: list[RejectedRow] = []
    seen: set[str] = set()
    for n, raw in enumerate(reader, start=1):
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            pid = row["id"]
            if not pid:
                raise ValueError("empty id")
            if pid in seen:
                raise ValueError(f"duplicate id {pid!r}")
            if not row["origin"] or not row["destination"]:
                raise ValueError("origin and destination are required")
            ready = _time(row.get("ready_at", ""), tz) or default_ready_at
            due = _time(row.get("due_at", ""), tz)
            if due is not None and due < ready:
                raise ValueError("due_at is before ready_at")
            volume_l = (_positive(row, "length_cm") * _positive(row, "width_cm")
                        * _positive(row, "height_cm") / 1000.0)
            priority = row.get("priority", "") or "normal"
            kind = row.get("kind", "").lower()
            parcels.append(Parcel(
                parcel_id=pid, origin=row["origin"], destination=row["destination"],
                weight_kg=_positive(row, "weight_kg"), volume_l=volume_l, ready_at=ready, due_at=due,
                perishable=due is not None and (kind in PERISHABLE_KINDS or priority == "1"),
                priority=priority,
            ))
            seen.add(pid)
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append(RejectedRow(row=n, error=str(exc)))
    return parcels, rejected
