"""Routes of the ERP API (``/v1``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse

from pipelines.api.deps import RunStore, dealer_ids, get_store, require_api_key, resolve_run
from pipelines.api.schemas import Health, OrderProposals, Problem, ProposalLine
from pipelines.publish import NoPublishedRun

router = APIRouter(prefix="/v1")


def _parse_date(value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return pd.Timestamp(value).date()
    except (TypeError, ValueError):
        return None


def _published_at(folder: Path, manifest: dict) -> datetime:
    raw = manifest.get("published_at")
    if raw:
        try:
            stamp = datetime.fromisoformat(str(raw))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    # Older manifests without the stamp: the rename into runs/ set the folder's mtime.
    return datetime.fromtimestamp(folder.stat().st_mtime, tz=timezone.utc)


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "nothing published yet"}},
    summary="Service status and the age of the run being served",
    tags=["status"],
)
def health(store: Annotated[RunStore, Depends(get_store)]):
    """Needs no key, so a monitor can watch it. 503 (with ``reason``) until a run exists."""
    try:
        folder = store.latest()
        manifest = store.manifest(folder)
    except (NoPublishedRun, FileNotFoundError) as exc:
        body = Health(status="unavailable", reason=str(exc))
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    published = _published_at(folder, manifest)
    age = max((datetime.now(timezone.utc) - published).total_seconds(), 0.0)
    return Health(
        status="ok",
        run_id=str(manifest.get("run_id", folder.name)),
        as_of=_parse_date(manifest.get("as_of")),
        published_at=published,
        age_seconds=round(age, 1),
    )


@router.get(
    "/order-proposals",
    response_model=OrderProposals,
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"model": Problem, "description": "missing or wrong X-API-Key"},
        404: {"model": Problem, "description": "unknown dealer or run"},
        503: {"model": Problem, "description": "no run published yet"},
    },
    summary="A dealer's order-proposal lines from the latest published run",
    tags=["proposals"],
)
def order_proposals(
    store: Annotated[RunStore, Depends(get_store)],
    folder: Annotated[Path, Depends(resolve_run)],
    dealer: Annotated[str, Query(min_length=1, max_length=100, description="dealer location id")],
    sku: Annotated[str | None, Query(max_length=100, description="only this item")] = None,
):
    """Plan rows whose destination is ``dealer``, sorted by ship date then SKU.

    A known dealer without planned shipments gets an empty ``lines`` list; a location
    that is neither listed as a dealer in the data folder nor shipped to by the plan is
    a 404, so a typo in an ERP's dealer id does not look like "nothing to order".
    """
    manifest = store.manifest(folder)
    plan = store.table(folder, "plan")
    dealers, kinds = dealer_ids(store, plan)
    if dealer not in dealers:
        if dealer in kinds:
            msg = f"location {dealer!r} is a {kinds[dealer]}, not a dealer"
        else:
            msg = f"unknown dealer {dealer!r}: not a dealer in the locations table nor in run {folder.name}'s plan"
        raise HTTPException(status.HTTP_404_NOT_FOUND, msg)
    rows = plan[plan["destination"].astype(str) == dealer]
    if sku is not None:
        rows = rows[rows["sku"].astype(str) == sku]
    rows = rows.sort_values(["ship_date", "sku"], kind="stable")
    run_id = str(manifest.get("run_id", folder.name))
    if "run_id" not in rows:
        rows = rows.assign(run_id=run_id)
    lines = [
        ProposalLine(
            sku=str(r.sku),
            qty=float(r.qty),
            ship_date=r.ship_date.date(),
            arrival_date=r.arrival_date.date(),
            reason="" if pd.isna(r.reason) else str(r.reason),
            origin=str(r.origin),
            kind=str(r.kind),
            run_id=str(r.run_id),
        )
        for r in rows.itertuples(index=False)
    ]
    return OrderProposals(run_id=run_id, as_of=_parse_date(manifest.get("as_of")), dealer=dealer, lines=lines)
