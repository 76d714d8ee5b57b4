"""The append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.db.models import AuditEntry


def record(session: Session, *, actor: str, action: str, object_type: str, object_id: str,
           details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one audit entry in the caller's transaction (it commits or rolls back with the change)."""
    entry = AuditEntry(actor=actor, action=action, object_type=object_type, object_id=object_id,
                       details=details or {})
    session.add(entry)
    return entry


def entries(session: Session, *, object_type: str | None = None, object_id: str | None = None,
            action: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest audit entries first, optionally filtered."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
