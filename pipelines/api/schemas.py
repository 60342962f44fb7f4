"""Response bodies of the ERP API.

They are pydantic models so the OpenAPI document (``/docs``, ``/openapi.json``) tells an
ERP integrator exactly which fields, types and units to expect.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class ProposalLine(BaseModel):
    """One order-proposal line: a planned VMI shipment to the dealer."""

    model_config = ConfigDict(json_schema_extra={
        "example": {
            "sku": "SKU-0001", "qty": 24.0, "ship_date": "2024-03-04",
            "arrival_date": "2024-03-11", "reason": "replenish to safety stock",
            "origin": "DC-NORTH", "kind": "replenishment",
            "run_id": "20240304T020000Z-1a2b3c",
        }
    })

    sku: str = Field(description="item number")
    qty: float = Field(ge=0, description="quantity to ship, units (pieces)")
    ship_date: date = Field(description="day the shipment leaves the origin (period start)")
    arrival_date: date = Field(description="day it arrives at the dealer (period start)")
    reason: str = Field(description="why the planner proposes this line")
    origin: str = Field(description="location shipping it (usually the dealer's DC)")
    kind: str = Field(description="replenishment or transfer")
    run_id: str = Field(description="nightly run that produced the line")


class OrderProposals(BaseModel):
    """All proposal lines for one dealer from one published run."""

    run_id: str = Field(description="nightly run the lines come from")
    as_of: date | None = Field(None, description="planning date of that run")
    dealer: str = Field(description="dealer location id the lines ship to")
    lines: list[ProposalLine] = Field(description="sorted by ship_date, then sku")


class Health(BaseModel):
    """Service status and the run being served."""

    status: str = Field(description="'ok', or 'unavailable' when nothing can be served")
    run_id: str | None = Field(None, description="latest published run")
    as_of: date | None = Field(None, description="planning date of the latest run")
    published_at: datetime | None = Field(None, description="when it was published (UTC)")
    age_seconds: float | None = Field(None, ge=0, description="seconds since publication")
    reason: str | None = Field(None, description="why the service is unavailable")


class Problem(BaseModel):
    """Error body (FastAPI's default shape)."""

    detail: str = Field(description="what went wrong and what to do about it")
