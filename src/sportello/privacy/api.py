"""Admin API for data-subject requests: export and erase what is held about an email or phone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sportello.deps import RuntimeDep
from sportello.operators.deps import CurrentAdmin
from sportello.privacy import service

router = APIRouter(prefix="/api/v1/admin/data-requests", tags=["privacy"])

DOCS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No operator session."},
    403: {"description": "Admins only."},
    422: {"description": "Neither a usable email nor a usable phone number."},
}


class DataSubjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)


class AuditEntryRead(BaseModel):
    """The audit row a request left: a keyed hash for subject and counts only, no personal data."""

    id: int
    subject_type: str
    subject_id: str
    action: str
    actor_type: str
    actor_id: str | None
    data: dict[str, Any]
    created_at: datetime


class ErasureRead(BaseModel):
    reference: str = Field(description="Keyed hash of the identifiers, as written in the audit log.")
    counts: dict[str, int]
    audit: AuditEntryRead


@router.post("/export", responses=DOCS)
async def export_subject(rt: RuntimeDep, principal: CurrentAdmin, data: DataSubjectRequest) -> dict[str, Any]:
    """Everything held about the person as JSON (internal notes are counted, not shown)."""
    subject = service.parse_subject(data.email, data.phone, region=rt.settings.holiday_country)
    async with rt.db.scope() as session:
        return await service.export(
            session, subject, actor_type="operator", actor_id=principal.id, secret=rt.settings.resolved_secret_key()
        )


@router.post("/erase", response_model=ErasureRead, responses=DOCS)
async def erase_subject(rt: RuntimeDep, principal: CurrentAdmin, data: DataSubjectRequest) -> ErasureRead:
    """Delete the person's conversations, tickets, contacts and notifications; redact every mention."""
    subject = service.parse_subject(data.email, data.phone, region=rt.settings.holiday_country)
    secret = rt.settings.resolved_secret_key()
    async with rt.db.scope() as session:
        counts = await service.erase(session, subject, actor_type="operator", actor_id=principal.id, secret=secret)
        entry = await service.last_audit(session, subject.digest(secret), "erased")
        read = AuditEntryRead.model_validate(entry, from_attributes=True)
    return ErasureRead(reference=subject.digest(secret), counts=counts, audit=read)
