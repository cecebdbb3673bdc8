"""The console's Reports page: the redemption report (app.reports) for a chosen period, its totals, a
daily chart of money given, and the same rows as a CSV download.

The download is a console route, not a link to the API: the console signs in with a session, the API
wants a key. Both answer the same rows from the same service function.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from app.admin.sessions import ConsoleUserDep
from app.admin.templating import render
from app.campaigns.exceptions import CampaignNotFound
from app.core.clock import NowDep
from app.core.config import Settings, SettingsDep
from app.core.http.schemas import MAX_ID
from app.reports import service
from app.reports.exceptions import ReportRangeInvalid
from app.reports.export import csv_report
from app.reports.period import Period, store_day

router = APIRouter()

# A page draws one bar and up to a few hundred table rows a day: longer periods go to the CSV download.
MAX_PAGE_DAYS = 366
_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)


@dataclass(frozen=True)
class Asked:
    """What the period form says, as typed (shown back) and as understood, or why it is not understood."""

    values: dict[str, str]
    period: Period | None = None
    campaign_id: int | None = None
    error: str | None = None


def _day(value: str, name: str) -> date | None:
    try:
        return store_day(value) if value else None
    except ValueError as exc:
        raise ValueError(f"{name} should be {exc}.") from None


async def _asked(request: Request, now: datetime, settings: Settings) -> Asked:
    """The form's `from`, `to` and `campaign_id` (query parameters, any of them empty or left out)."""
    params = request.query_params
    values = {name: params.get(name, "").strip() for name in ("from", "to", "campaign_id")}
    try:
        first_day, last_day = _day(values["from"], "From"), _day(values["to"], "To")
        if values["campaign_id"] and not (
            _ID.fullmatch(values["campaign_id"]) and int(values["campaign_id"]) <= MAX_ID
        ):
            raise ValueError("The campaign is named by its id, a whole number such as 42.")
        campaign_id = int(values["campaign_id"]) if values["campaign_id"] else None
        period = service.period_asked(first_day, last_day, now=now, timezone=settings.store_timezone)
        if campaign_id is not None:
            await service.check_campaign(request.app.state.read_sessionmaker, campaign_id=campaign_id)
    except ValueError as exc:
        return Asked(values, error=str(exc))
    except ReportRangeInvalid:
        return Asked(values, error="From must be on or before To.")
    except CampaignNotFound:
        return Asked(values, error=f"No campaign has the id {values['campaign_id']}.")
    values.update({"from": period.first.isoformat(), "to": period.last.isoformat()})
    return Asked(values, period, campaign_id)


@router.get("/reports")
async def reports_page(request: Request, user: ConsoleUserDep, now: NowDep, settings: SettingsDep) -> Response:
    asked = await _asked(request, now, settings)
    if asked.period is not None and asked.period.days > MAX_PAGE_DAYS:
        error = f"Choose at most {MAX_PAGE_DAYS} days here; the CSV download takes any period."
        asked = Asked(asked.values, error=error)
    if asked.period is None or asked.error:
        return _refused(request, asked)
    rows = await service.all_rows(
        request.app.state.read_sessionmaker,
        period=asked.period,
        timezone=settings.store_timezone,
        campaign_id=asked.campaign_id,
    )
    per_day = service.given_per_day(asked.period, rows)
    context = {
        "nav": "reports",
        "values": asked.values,
        "rows": rows,
        "totals": service.totals(rows),
        "per_day": per_day,
        "chart": {"labels": [day.isoformat() for day, _ in per_day], "given": [str(given) for _, given in per_day]},
        "download": "/admin/reports/redemptions.csv?" + urlencode({k: v for k, v in asked.values.items() if v}),
    }
    return render(request, "reports/redemptions.html", context)


@router.get("/reports/redemptions.csv")
async def reports_csv(request: Request, user: ConsoleUserDep, now: NowDep, settings: SettingsDep) -> Response:
    asked = await _asked(request, now, settings)
    if asked.period is None or asked.error:
        return _refused(request, asked)
    return csv_report(
        request.app.state.read_sessionmaker,
        period=asked.period,
        timezone=settings.store_timezone,
        campaign_id=asked.campaign_id,
    )


def _refused(request: Request, asked: Asked) -> Response:
    """The form again, with what was typed and why it is not a period (422)."""
    context = {"nav": "reports", "values": asked.values, "error": asked.error}
    return render(request, "reports/redemptions.html", context, status_code=422)
