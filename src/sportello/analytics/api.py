"""Reports under /api/v1/reports (supervisors and admins), as JSON or `?format=csv`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.analytics import facts, service
from sportello.analytics import schemas as s
from sportello.analytics.export import to_csv
from sportello.analytics.service import Filters
from sportello.deps import RuntimeDep
from sportello.errors import InvalidInput
from sportello.operators.deps import CurrentSupervisor

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
MAX_DAYS = 400
DEFAULT_DAYS = 30


def report_filters(
    rt: RuntimeDep,
    start: Annotated[
        date | None, Query(alias="from", description="First local day (default: 30 days ago).")
    ] = None,
    end: Annotated[
        date | None, Query(alias="to", description="Last local day, included (default: today).")
    ] = None,
    channel: Annotated[
        str | None, Query(description="Conversation channel: web, email, sms, whatsapp, phone.")
    ] = None,
    language: Annotated[
        str | None, Query(description="Conversation language, e.g. it or en.")
    ] = None,
    priority: Annotated[Literal["urgent", "high", "medium", "low"] | None, Query()] = None,
    operator_id: Annotated[
        uuid.UUID | None, Query(description="Only what this operator handled.")
    ] = None,
) -> Filters:
    zone = rt.settings.timezone
    end = end or datetime.now(ZoneInfo(zone)).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("`from` must not be after `to`")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days")
    return Filters(start, end, zone, channel or None, language or None, priority, operator_id)


ReportFilters = Annotated[Filters, Depends(report_filters)]
Format = Annotated[
    Literal["json", "csv"], Query(description="`csv` downloads the same numbers as a CSV table.")
]
Measure = Callable[[AsyncSession, Filters], Awaitable[BaseModel]]
CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The report (JSON, or CSV with `format=csv`).",
    },
    401: {"description": "Not logged in."},
    403: {"description": "Agents: reports are for supervisors and admins."},
    422: {"description": "Bad range or filter."},
}


def _add(
    name: str, measure: Measure, model: type[BaseModel], summary: str, *, uses_facts: bool = True
) -> None:
    async def endpoint(
        rt: RuntimeDep, _: CurrentSupervisor, f: ReportFilters, format: Format = "json"
    ) -> Any:
        if uses_facts:
            await facts.refresh(rt.db)
        async with rt.db.scope() as session:
            report = await measure(session, f)
        if format == "csv":
            filename = f"sportello-{name}-{f.start}-{f.end}.csv"
            return Response(
                to_csv(report),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return report

    endpoint.__name__ = f"report_{name.replace('-', '_')}"
    router.add_api_route(
        f"/{name}",
        endpoint,
        methods=["GET"],
        response_model=model,
        summary=summary,
        description=(measure.__doc__ or summary) + "\n\nSee docs/analytics.md for the definitions.",
        responses=CSV_DOC,
    )


_add("outcomes", service.outcomes, s.OutcomesReport, "Conversations by outcome, per local day")
_add(
    "assistant",
    service.assistant,
    s.AssistantReport,
    "Assistant containment, topics answered and missed",
)
_add("queue", service.queue, s.QueueReport, "Queue waits and abandonment", uses_facts=False)
_add(
    "response-times",
    service.response_times,
    s.ResponseTimesReport,
    "First-response and resolution times",
)
_add(
    "sla",
    service.sla,
    s.SlaReport,
    "SLA compliance per priority, breaches per tier",
    uses_facts=False,
)
_add("operators", service.operators, s.OperatorsReport, "Operator performance")
_add("satisfaction", service.satisfaction, s.SatisfactionReport, "Customer satisfaction")
_add(
    "channels",
    service.channels,
    s.ChannelsReport,
    "Notifications per channel, links opened",
    uses_facts=False,
)
_add("volume", service.volume, s.VolumeReport, "Volume per local day and weekday-hour heatmap")
