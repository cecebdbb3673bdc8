"""Events no request writes: a campaign crossing a budget threshold, its budget exhausted, its end date passed.

The relay looks for them each round (`reach`). Each milestone is a row of `campaign_milestones`, inserted with
its event in one transaction, `ON CONFLICT DO NOTHING`: the event is written only by the transaction whose
row went in, so however many relays find the same milestone at once, it is told once.

The scan stays cheap by looking only at campaigns that may have reached something since the last scan: those
with redemptions or edits since then, and those whose end date passed since then. A relay's first scan looks
at every campaign not deleted whose end is within LOOKBACK (a campaign that ended longer ago than that, while
no relay ran, is not announced: its news is stale).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Exists, Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.campaigns import service as campaigns_service
from app.campaigns.models import Campaign
from app.core.db.session import create_sessionmaker, insert_for, read_only, write_transaction
from app.discounts.models import Redemption
from app.webhooks import events
from app.webhooks.events import EventType
from app.webhooks.models import CampaignMilestone

# How far back a scan looks again, for redemptions that committed after the last scan although stamped
# before it (a redemption's created_at is its request's time, its commit comes later).
OVERLAP = timedelta(seconds=10)
LOOKBACK = timedelta(days=7)
EXHAUSTED = "exhausted"
ENDED = "ended"


@dataclass(frozen=True)
class Milestone:
    name: str  # the campaign_milestones key: "threshold:80", "exhausted", "ended"
    event_type: EventType
    threshold_percent: int | None = None


def thresholds_of(stored: str | None) -> list[int]:
    """A campaign's budget_thresholds (a JSON list of percentages), ascending."""
    try:
        values = json.loads(stored or "[]")
    except ValueError:
        return []
    return sorted({value for value in values if isinstance(value, int)}) if isinstance(values, list) else []


def reached(
    *, used_budget: Decimal, total_budget: Decimal, end_date: datetime, thresholds: list[int], now: datetime
) -> list[Milestone]:
    """Every milestone a campaign has reached at `now`, in the order they are told: the thresholds crossed
    (spent at least pct % of the budget), exhausted (nothing left: the `exhausted` status's own test,
    app.campaigns.rules.derive_status), ended (its end date passed)."""
    found = [
        Milestone(f"threshold:{pct}", EventType.CAMPAIGN_BUDGET_THRESHOLD, pct)
        for pct in thresholds
        if total_budget > 0 and used_budget * 100 >= total_budget * pct
    ]
    if total_budget > 0 and used_budget >= total_budget:
        found.append(Milestone(EXHAUSTED, EventType.CAMPAIGN_BUDGET_EXHAUSTED))
    if end_date <= now:
        found.append(Milestone(ENDED, EventType.CAMPAIGN_ENDED))
    return found


async def reach(engine: AsyncEngine, *, now: datetime, since: datetime | None) -> int:
    """Record, with its event, every milestone reached by a campaign that may have reached one since `since`
    (None: the first scan); how many were recorded."""
    async with read_only(engine).connect() as connection:  # no write lock for the look (SQLite)
        campaigns = (await connection.execute(_candidates(now, since))).all()
        if not campaigns:
            return 0
        rows = await connection.execute(
            select(CampaignMilestone.campaign_id, CampaignMilestone.milestone).where(
                CampaignMilestone.campaign_id.in_([campaign.id for campaign in campaigns])
            )
        )
        known = {(row.campaign_id, row.milestone) for row in rows}
    recorded = 0
    for campaign in campaigns:
        new = [
            milestone
            for milestone in reached(
                used_budget=campaign.used_budget,
                total_budget=campaign.total_budget,
                end_date=campaign.end_date,
                thresholds=thresholds_of(campaign.budget_thresholds),
                now=now,
            )
            if (campaign.id, milestone.name) not in known
        ]
        if new:
            recorded += await _record(create_sessionmaker(engine), campaign.id, new, now=now)
    return recorded


def _reached_already(milestone: str) -> Exists:
    return exists().where(CampaignMilestone.campaign_id == Campaign.id, CampaignMilestone.milestone == milestone)


def _candidates(now: datetime, since: datetime | None) -> Select[int, Decimal, Decimal, datetime, str]:
    """The campaigns that may have reached a milestone not yet recorded: not deleted, not done (exhausted, and
    ended or not ended yet: nothing is left to reach before the end), and, after the first scan, spent from,
    edited or ended since the last one."""
    query = select(
        Campaign.id,
        Campaign.used_budget.label("used_budget"),
        Campaign.total_budget,
        Campaign.end_date,
        Campaign.budget_thresholds,
    ).where(
        Campaign.deleted_at.is_(None),
        or_(~_reached_already(EXHAUSTED), and_(Campaign.end_date <= now, ~_reached_already(ENDED))),
    )
    if since is None:
        return query.where(Campaign.end_date > now - LOOKBACK).order_by(Campaign.id)
    since -= OVERLAP
    spent_lately = select(Redemption.campaign_id).where(Redemption.created_at > since).distinct()
    return query.where(
        or_(
            Campaign.id.in_(spent_lately),
            Campaign.updated_at > since,  # an edit: a smaller budget, an earlier end
            and_(Campaign.end_date > since, Campaign.end_date <= now),
        )
    ).order_by(Campaign.id)


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession], campaign_id: int, milestones: list[Milestone], *, now: datetime
) -> int:
    """Insert the milestones' rows and, for each row that went in (no other relay's first), its event: one
    transaction, so a milestone is never recorded without its event nor told twice."""
    recorded = 0
    async with write_transaction(sessionmaker) as session:
        insert = insert_for(session)
        # Read again in this transaction: the state the events tell of is the one committed now.
        fresh = await session.scalar(select(Campaign).where(Campaign.id == campaign_id))
        if fresh is None:
            return 0
        answer = await campaigns_service.summary(session, fresh, now)
        for milestone in milestones:
            statement = (
                insert(CampaignMilestone)
                .values(campaign_id=campaign_id, milestone=milestone.name, reached_at=now)
                .on_conflict_do_nothing()
                .returning(CampaignMilestone.campaign_id)
            )
            if await session.scalar(statement) is None:
                continue  # another relay told it
            data: dict[str, Any] = answer.model_dump(mode="json")
            if milestone.threshold_percent is not None:
                data["threshold_percent"] = milestone.threshold_percent
            await events.emit(session, milestone.event_type, data, now=now)
            recorded += 1
    return recorded
