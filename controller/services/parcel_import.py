"""Bulk parcel import from CSV: good rows are kept, bad rows are reported with the reason."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from controller.domain.errors import DispatchError
from controller.domain.parcel_input import ParcelInput
from controller.services.parcels import create_parcel

REQUIRED_COLUMNS = ("id", "origin", "destination", "weight_kg", "length_cm", "width_cm", "height_cm")
OPTIONAL_COLUMNS = ("priority", "ready_at", "due_at", "direction", "kind", "perishable", "rfid",
                    "recipient_name", "recipient_phone")


@dataclass(frozen=True, kw_only=True)
class RowError:
    row: int  # 1-based data row number (the header is row 0)
    parcel_id: str
    error: str


@dataclass(kw_only=True)
class ImportReport:
    imported: list[str] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.imported) + len(self.rejected)


class CsvFormatError(DispatchError):
    code = "csv_format"
    http_status = 422


def parse_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, row)`` for each data row; raise CsvFormatError for a bad header."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CsvFormatError(f"CSV header lacks required column(s): {', '.join(missing)}", missing=missing)
    for number, row in enumerate(reader, start=1):
        yield number, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}


def row_to_input(row: dict[str, str]) -> ParcelInput:
    """Validate one CSV row; empty optional cells mean "not given"."""
    known = {key: value for key, value in row.items()
             if key in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and value != ""}
    return ParcelInput.model_validate(known)


def import_csv(session: Session, *, text: str, actor: str,
               progress: Callable[[int], Any] | None = None) -> ImportReport:
    """Create a parcel per valid row; each row is its own savepoint, so one bad row loses nothing else."""
    report = ImportReport()
    for number, row in parse_rows(text):
        parcel_id = row.get("id", "")
        try:
            data = row_to_input(row)
            with session.begin_nested():
                create_parcel(session, data=data, actor=actor)
            report.imported.append(data.id)
        except ValidationError as exc:
            report.rejected.append(RowError(row=number, parcel_id=parcel_id, error=_describe(exc)))
        except DispatchError as exc:
            report.rejected.append(RowError(row=number, parcel_id=parcel_id, error=exc.message))
        if progress:
            progress(number)
    return report


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"]) or "row"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)
