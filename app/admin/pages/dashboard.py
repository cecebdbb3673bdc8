"""The console's dashboard: today's redemptions and discount money, and the running campaigns,
the ones closest to running out of budget first."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response

from app.admin import burn_display
from app.admin.sessions import ConsoleUserDep
from app.admin.templating import render
from app.core.clock import NowDep, local_day
from app.core.config import SettingsDep
from app.core.db.session import ReadSessionDep
from app.discounts import burn

router = APIRouter()

# The dashboard shows this many running campaigns; the campaign list pages through all of them.
LIVE_SHOWN = 50


def store_day_start(now: datetime, store_timezone: str) -> datetime:
    """When the store's current calendar day began (its local midnight), as an aware instant."""
    zone = ZoneInfo(store_timezone)
    return datetime.combine(local_day(now, store_timezone), time(), tzinfo=zone)


@router.get("")
async def dashboard(
    request: Request, user: ConsoleUserDep, session: ReadSessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    start = store_day_start(now, settings.store_timezone)
    count, money = await burn.spent_between(session, start=start, end=now + timedelta(microseconds=1))
    running, live = await burn.live_campaigns(session, now=now, limit=LIVE_SHOWN)
    rows = [
        (campaign, burn_display.run_out_text(campaign.run_out, now, campaign.timezone or settings.store_timezone))
        for campaign in live
    ]
    context = {
        "nav": "dashboard",
        "today_redemptions": count,
        "today_discount": money,
        "running": running,
        "live": rows,
    }
    return render(request, "dashboard.html", context)
