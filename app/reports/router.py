"""/api/v1/reports: what finance reads, as JSON or CSV."""

from datetime import date
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.auth.dependencies import access
from app.auth.models import Scope
from app.campaigns.exceptions import CampaignNotFound
from app.core.clock import NowDep
from app.core.config import SettingsDep
from app.core.http.csv_export import csv_content, prefers_csv
from app.core.http.errors import ValidationFailed, error_responses
from app.core.http.exact_json import ExactJsonRoute
from app.core.http.schemas import QueryId
from app.reports import service
from app.reports.exceptions import ReportRangeInvalid
from app.reports.export import csv_report
from app.reports.period import DEFAULT_DAYS, EARLIEST_DAY, LATEST_DAY, Period, store_day
from app.reports.schemas import CSV_COLUMNS, ReportRowRead

router = APIRouter(prefix="/reports", tags=["reports"], route_class=ExactJsonRoute)

_READ = Depends(access("read", Scope.READ))


def _store_day(value: Any) -> date:
    try:
        return store_day(value) if isinstance(value, str) else store_day("")
    except ValueError as exc:
        raise PydanticCustomError("date_type", "Input should be {rule}", {"rule": str(exc)}) from None


# The schema says the days taken (EARLIEST_DAY to LATEST_DAY) as JSON Schema can, by their text: a day that is
# well formed but outside them is refused like any day the schema does not allow, and a client knows it before.
DAY_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-[0-9]{2}-[0-9]{2}$"
_DAYS = f"YYYY-MM-DD, from {EARLIEST_DAY} to {LATEST_DAY}"
StoreDay = Annotated[
    date,
    PlainValidator(_store_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]
From = Annotated[
    StoreDay | None,
    Query(
        alias="from",
        description=f"The first store day, inclusive ({_DAYS}). Default: {DEFAULT_DAYS - 1} days before `to`.",
    ),
]
To = Annotated[
    StoreDay | None, Query(alias="to", description=f"The last store day, inclusive ({_DAYS}). Default: today.")
]
CampaignFilter = Annotated[QueryId | None, Query(description="Only this campaign's rows (a deleted one's too)")]

_RULES = (
    "One row per campaign and store day (STORE_TIMEZONE), ordered by day, then campaign_id; a day without "
    "redemptions or rollbacks has no row. A redemption counts on the store day it was made, a rollback on "
    "the store day it happened, so a closed day's row never changes; `discount_total` is the money given "
    "that day net of that day's rollbacks, and summed over all days it equals the campaigns' used budgets. "
    "`from` after `to` is 422 `report_range_invalid`. See docs/reports.md."
)
_ERRORS = error_responses(CampaignNotFound, ReportRangeInvalid, ValidationFailed)


class Asked(NamedTuple):
    period: Period
    campaign_id: int | None


async def valid_report(
    request: Request,
    now: NowDep,
    settings: SettingsDep,
    first: From = None,
    last: To = None,
    campaign_id: CampaignFilter = None,
) -> Asked:
    """The query's period and campaign, or the 422 or 404 that says why there is none."""
    period = service.period_asked(first, last, now=now, timezone=settings.store_timezone)
    if campaign_id is not None:
        await service.check_campaign(request.app.state.read_sessionmaker, campaign_id=campaign_id)
    return Asked(period, campaign_id)


ValidReport = Annotated[Asked, Depends(valid_report)]


def _csv(request: Request, asked: Asked) -> StreamingResponse:
    return csv_report(
        request.app.state.read_sessionmaker,
        period=asked.period,
        timezone=request.app.state.settings.store_timezone,
        campaign_id=asked.campaign_id,
    )


@router.get(
    "/redemptions",
    response_model=list[ReportRowRead],
    dependencies=[_READ],
    responses={
        200: {
            "description": "The rows: JSON by default, CSV (header line, money with two decimals) for "
            "`Accept: text/csv`",
            "content": csv_content(),
        },
        **_ERRORS,
    },
    description=f"{_RULES} Send `Accept: text/csv` (or use .../redemptions.csv) for CSV, streamed.",
)
async def redemption_report(request: Request, asked: ValidReport) -> Any:
    if prefers_csv(request.headers.get("accept")):
        return _csv(request, asked)
    rows = await service.all_rows(
        request.app.state.read_sessionmaker,
        period=asked.period,
        timezone=request.app.state.settings.store_timezone,
        campaign_id=asked.campaign_id,
    )
    return [ReportRowRead.of(row) for row in rows]


@router.get(
    "/redemptions.csv",
    response_class=StreamingResponse,
    dependencies=[_READ],
    responses={
        200: {
            "description": f"The rows as CSV, streamed in constant memory: a header line ({', '.join(CSV_COLUMNS)}), "
            "one line per row, money with two decimals",
            "content": csv_content(),
        },
        **_ERRORS,
    },
    description=f"The same report as CSV. {_RULES}",
)
async def redemption_report_csv(request: Request, asked: ValidReport) -> StreamingResponse:
    return _csv(request, asked)
