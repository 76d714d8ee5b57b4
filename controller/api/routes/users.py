"""Users, the caller's identity, and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from controller.api.deps import ANY_ROLE, SessionDep, SettingsDep, allow
from controller.api.schemas import AuditOut, UserCreated, UserIn, UserOut
from controller.db.models import User
from controller.services import audit, auth
from controller.services.auth import Role

router = APIRouter(prefix="/api/v1", tags=["users"])
Admin = Annotated[User, Depends(allow(Role.ADMIN))]


@router.get("/me", response_model=UserOut)
def me(user: Annotated[User, Depends(allow(*ANY_ROLE))]) -> UserOut:
    """Who the token belongs to."""
    return UserOut.model_validate(user)


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, _: Admin) -> list[UserOut]:
    """All users (admin)."""
    return [UserOut.model_validate(u) for u in auth.list_users(session)]


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
def create_user(body: UserIn, session: SessionDep, settings: SettingsDep, user: Admin) -> UserCreated:
    """Create a user and return its token once (admin)."""
    with session.begin():
        created, token = auth.create_user(session, name=body.name, role=body.role,
                                          secret_key=settings.secret_key, actor=user.name)
    return UserCreated(**UserOut.model_validate(created).model_dump(), token=token)


@router.get("/audit", response_model=list[AuditOut])
def audit_log(session: SessionDep, _: Admin, object_type: str | None = None, object_id: str | None = None,
              action: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditOut]:
    """The append-only audit log, newest first (admin)."""
    rows = audit.entries(session, object_type=object_type, object_id=object_id, action=action, limit=limit)
    return [AuditOut.model_validate(r) for r in rows]
