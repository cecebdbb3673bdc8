"""Campaign use cases. Callers own the transaction; these functions only flush.

A target list can hold 100,000 customers, so no use case here loads it: lists and
edits count targets with COUNT, a new list replaces the old one in SQL, and a
single campaign's targets are shown in full only up to TARGETS_SHOWN.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, and_, func, not_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.auth.service import Principal
from app.campaigns import edits, slices
from app.campaigns.exceptions import BudgetBelowSpent, CampaignChanged, CampaignNotFound
from app.campaigns.models import Campaign, CampaignStatus, CampaignTarget, DiscountType
from app.campaigns.rules import running_at
from app.campaigns.schemas import TARGETS_SHOWN, CampaignCreate, CampaignRead, CampaignSummary
from app.core.db.session import LIKE_ESCAPE, contains_pattern, insert_for, total_of
from app.core.http.errors import ValidationFailed
from app.core.money import ZERO
from app.customers import service as customers_service
from app.webhooks import events
from app.webhooks.events import EventType

# Ids per statement: under every driver's parameter limit (SQLite and asyncpg: 32,766).
_CHUNK = 5000


def snapshot(campaign: Campaign, target_count: int) -> dict[str, Any]:
    """The editable fields as the audit log records them (the target list by its size)."""
    return {**edits.stored_fields(campaign), "target_customers": target_count}


async def _check_targets(session: AsyncSession, customer_ids: list[int], max_targets: int) -> None:
    if len(customer_ids) > max_targets:
        raise ValidationFailed(
            f"target_customer_ids: at most {max_targets} customers per campaign", field="target_customer_ids"
        )
    missing = await customers_service.missing_ids(session, customer_ids=customer_ids)
    if missing:
        shown = ", ".join(str(customer_id) for customer_id in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise ValidationFailed(f"target_customer_ids: no customer with id {shown}{more}", field="target_customer_ids")


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


async def _add_targets(session: AsyncSession, campaign_id: int, customer_ids: list[int]) -> None:
    """Insert the targets that are not there yet; the ones already there stay untouched."""
    insert = insert_for(session)
    statement = insert(CampaignTarget.__table__).on_conflict_do_nothing()
    for chunk in _chunks(customer_ids):
        await session.execute(statement, [{"campaign_id": campaign_id, "customer_id": id_} for id_ in chunk])


async def _replace_targets(session: AsyncSession, campaign_id: int, customer_ids: list[int]) -> None:
    """Make the campaign's targets exactly `customer_ids` (sorted, distinct), without reading them.

    Rows not wanted are deleted chunk by chunk: each chunk of the sorted list owns the
    interval of ids up to its last one, and the rows there that it does not name go."""
    targets = sql_delete(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id)
    chunks = _chunks(customer_ids)
    low: int | None = None
    for index, chunk in enumerate(chunks):
        unwanted = targets.where(CampaignTarget.customer_id.not_in(chunk))
        if low is not None:
            unwanted = unwanted.where(CampaignTarget.customer_id > low)
        if index < len(chunks) - 1:
            unwanted = unwanted.where(CampaignTarget.customer_id <= chunk[-1])
        await session.execute(unwanted.execution_options(synchronize_session=False))
        low = chunk[-1]
    if not chunks:
        await session.execute(targets.execution_options(synchronize_session=False))
    await _add_targets(session, campaign_id, customer_ids)


def _target_count_of(campaign_id: Any) -> Select[int]:
    return select(func.count()).select_from(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id)


async def count_targets(session: AsyncSession, *, campaign_id: int) -> int:
    return await session.scalar(_target_count_of(campaign_id)) or 0


async def shown_targets(
    session: AsyncSession, *, campaign_id: int, count: int | None = None
) -> tuple[int, list[int] | None]:
    """How many targets the campaign has and, up to TARGETS_SHOWN of them, their ids (else None).
    `count`: how many it has, when the caller has just counted them."""
    if count is None:
        count = await count_targets(session, campaign_id=campaign_id)
    if count > TARGETS_SHOWN:
        return count, None
    return count, list(await session.scalars(_targets_in_order(campaign_id))) if count else []


def _targets_in_order(campaign_id: int) -> Select[int]:
    return (
        select(CampaignTarget.customer_id)
        .where(CampaignTarget.campaign_id == campaign_id)
        .order_by(CampaignTarget.customer_id)
    )


async def targets(session: AsyncSession, *, campaign_id: int, skip: int, limit: int) -> Sequence[int]:
    """One page of a campaign's target customer ids, ascending (CampaignNotFound for no such campaign)."""
    await get(session, campaign_id=campaign_id)
    return await target_page(session, campaign_id=campaign_id, skip=skip, limit=limit)


async def target_page(session: AsyncSession, *, campaign_id: int, skip: int, limit: int) -> Sequence[int]:
    """`targets` for a campaign the caller has already read."""
    return (await session.scalars(_targets_in_order(campaign_id).offset(skip).limit(limit))).all()


async def create(
    session: AsyncSession, *, data: CampaignCreate, actor: Principal, now: datetime, max_targets: int
) -> Campaign:
    await _check_targets(session, data.target_customer_ids, max_targets)
    campaign = Campaign(**edits.row_values(data), used_budget=ZERO, created_at=now, updated_at=now)
    session.add(campaign)
    await session.flush()
    await slices.lay_out(await session.connection(), campaign.id, data.total_budget, data.budget_slices)
    await _add_targets(session, campaign.id, data.target_customer_ids)
    await _audit(session, campaign, "created", snapshot(campaign, len(data.target_customer_ids)), actor, now)
    await _tell(session, EventType.CAMPAIGN_CREATED, campaign, now, target_count=len(data.target_customer_ids))
    return campaign


async def present(
    session: AsyncSession, campaign: Campaign, now: datetime, *, target_count: int | None = None
) -> CampaignRead:
    """The campaign as the API answers it. `target_count`: as in `shown_targets`."""
    count, ids = await shown_targets(session, campaign_id=campaign.id, count=target_count)
    return CampaignRead.present(campaign, now, target_count=count, target_customer_ids=ids)


async def summary(
    session: AsyncSession, campaign: Campaign, now: datetime, *, target_count: int | None = None
) -> CampaignSummary:
    """The campaign as the list answers it, with target_count and not the target ids: what its webhook
    events tell (a list of 1,000 targets would make a thin event a heavy one)."""
    if target_count is None:
        target_count = await count_targets(session, campaign_id=campaign.id)
    return CampaignSummary.present(campaign, now, target_count=target_count)


async def _tell(
    session: AsyncSession, event_type: EventType, campaign: Campaign, now: datetime, *, target_count: int | None = None
) -> None:
    """Write the change's webhook event, in its transaction: here, so the API and the console both do."""
    await events.emit(session, event_type, await summary(session, campaign, now, target_count=target_count), now=now)


async def _audit(
    session: AsyncSession, campaign: Campaign, action: str, changes: dict[str, Any], actor: Principal, now: datetime
) -> None:
    await audit_service.record(
        session, entity_type="campaign", entity_id=campaign.id, action=action, actor=actor, changes=changes, now=now
    )


async def get(session: AsyncSession, *, campaign_id: int) -> Campaign:
    """A campaign that has not been deleted (its targets not loaded), or CampaignNotFound."""
    campaign = await session.scalar(select(Campaign).where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None)))
    if campaign is None:
        raise CampaignNotFound()
    return campaign


def _status_condition(status: CampaignStatus, now: datetime) -> ColumnElement[bool]:
    """The SQL twin of `rules.derive_status`: the campaigns that have `status` at `now`."""
    not_ended = Campaign.end_date > now
    running = running_at(now)
    conditions = {
        CampaignStatus.ENDED: Campaign.end_date <= now,
        CampaignStatus.PAUSED: and_(not_ended, Campaign.is_paused),
        CampaignStatus.SCHEDULED: and_(not_ended, not_(Campaign.is_paused), Campaign.start_date > now),
        CampaignStatus.EXHAUSTED: and_(running, Campaign.used_budget >= Campaign.total_budget),
        CampaignStatus.ACTIVE: and_(running, Campaign.used_budget < Campaign.total_budget),
    }
    return conditions[status]


async def list_(
    session: AsyncSession,
    *,
    skip: int,
    limit: int,
    discount_type: DiscountType | None = None,
    status: CampaignStatus | None = None,
    is_targeted: bool | None = None,
    now: datetime,
) -> list[tuple[Campaign, int]]:
    """A page of campaigns, each with its number of targets (counted, not loaded)."""
    target_count = _target_count_of(Campaign.id).scalar_subquery()
    query = select(Campaign, target_count).where(Campaign.deleted_at.is_(None))
    if discount_type is not None:
        query = query.where(Campaign.discount_type == discount_type)
    if is_targeted is not None:
        query = query.where(Campaign.is_targeted == is_targeted)
    if status is not None:
        query = query.where(_status_condition(status, now))
    rows = await session.execute(query.order_by(Campaign.id).offset(skip).limit(limit))
    return [(campaign, count) for campaign, count in rows]


async def update(
    session: AsyncSession,
    *,
    campaign: Campaign,
    changes: Mapping[str, Any],
    actor: Principal,
    now: datetime,
    max_targets: int,
    expected_version: int | None = None,
) -> Campaign:
    """PUT and PATCH: the named fields change, the others stay (`edits.merge`), and the
    result must pass every check a create passes. With `expected_version` (the console's edit
    form), an edit prepared on terms that have changed since is refused instead of undoing them."""
    # Locked first: the check below compares with what has really been spent, and the edit
    # starts from the latest terms.
    await _lock_for_edit(session, campaign)
    if expected_version is not None and campaign.version != expected_version:
        raise CampaignChanged()
    target_count = await count_targets(session, campaign_id=campaign.id)
    try:
        edit = edits.merge(edits.stored_fields(campaign), changes, target_count=target_count)
    except ValidationError as exc:
        raise ValidationFailed.from_pydantic(exc) from None
    if edit.target_customer_ids:
        await _check_targets(session, edit.target_customer_ids, max_targets)
    data = edit.campaign
    if data.total_budget < campaign.used_budget:
        raise BudgetBelowSpent(f"total_budget {data.total_budget} is below the {campaign.used_budget} already spent.")
    if (data.total_budget, data.budget_slices) != (campaign.total_budget, campaign.budget_slices):
        # The slices are locked (in _lock_for_edit): their allotments add up to the new total again.
        await slices.lay_out(await session.connection(), campaign.id, data.total_budget, data.budget_slices)
    before = snapshot(campaign, target_count)
    for name, value in edits.row_values(data).items():
        setattr(campaign, name, value)
    if edit.target_customer_ids is not None:
        await _replace_targets(session, campaign.id, edit.target_customer_ids)
        target_count = len(edit.target_customer_ids)
    changed = audit_service.diff(before, snapshot(campaign, target_count))
    # A new target list is new terms even when its size is the same; an edit that names only what
    # is already there changes nothing, not even the version.
    if changed or edit.target_customer_ids is not None:
        _edited(campaign, now)
        await session.flush()
        await _audit(session, campaign, "updated", changed, actor, now)
        await _tell(session, EventType.CAMPAIGN_UPDATED, campaign, now, target_count=target_count)
    return campaign


async def set_paused(
    session: AsyncSession, *, campaign: Campaign, paused: bool, actor: Principal, now: datetime
) -> Campaign:
    await _lock_for_edit(session, campaign)
    if campaign.is_paused != paused:
        changes = {"is_paused": {"from": campaign.is_paused, "to": paused}}
        campaign.is_paused = paused
        _edited(campaign, now)
        await session.flush()
        await _audit(session, campaign, "status_changed", changes, actor, now)
        await _tell(session, EventType.CAMPAIGN_PAUSED if paused else EventType.CAMPAIGN_RESUMED, campaign, now)
    return campaign


async def delete(session: AsyncSession, *, campaign_id: int, actor: Principal, now: datetime) -> None:
    """Soft-delete: one guarded UPDATE, so of several concurrent deletes exactly one succeeds
    (and writes the audit row); the others find it gone and answer CampaignNotFound."""
    deleted = await session.scalar(
        sql_update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now, version=Campaign.version + 1)
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    if deleted is None:
        raise CampaignNotFound()
    await audit_service.record(
        session, entity_type="campaign", entity_id=campaign_id, action="deleted", actor=actor, changes={}, now=now
    )
    # The campaign as it was last answered, deleted (the row stays: its redemptions still name it).
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    assert campaign is not None
    await _tell(session, EventType.CAMPAIGN_DELETED, campaign, now)


async def _lock_for_edit(session: AsyncSession, campaign: Campaign) -> None:
    """Lock the campaign's row, then its budget slices in slice order, and read them again: every edit
    starts here.

    Checkouts and rollbacks hold the campaign's row FOR SHARE while they spend or give back budget, so an
    edit (FOR UPDATE) waits for the checkouts that priced on the old terms to commit, and the checkouts
    after it see its new version. What is spent is read from the locked slices, after that wait: the
    refresh's own read of it was made before.
    """
    await session.refresh(campaign, with_for_update=True)
    if campaign.deleted_at is not None:
        raise CampaignNotFound()
    set_committed_value(campaign, "used_budget", await slices.spent(await session.connection(), campaign.id))


def _edited(campaign: Campaign, now: datetime) -> None:
    """Mark new terms: checkouts priced on the old version will re-price."""
    campaign.version += 1
    campaign.updated_at = now


async def history(session: AsyncSession, *, campaign_id: int, skip: int, limit: int) -> Sequence[AuditEvent]:
    """The campaign's audit log, newest first; kept, and shown, after the campaign is deleted."""
    if await session.get(Campaign, campaign_id) is None:
        raise CampaignNotFound()
    return await audit_service.history(session, entity_type="campaign", entity_id=campaign_id, skip=skip, limit=limit)


# What the console's campaign list sorts by: newest first, by name, soonest end, least budget left.
SEARCH_ORDERS: dict[str, tuple[Any, ...]] = {
    "newest": (Campaign.created_at.desc(), Campaign.id.desc()),
    "name": (Campaign.name, Campaign.id),
    "ends": (Campaign.end_date, Campaign.id),
    "remaining": (Campaign.total_budget - Campaign.used_budget, Campaign.id),
}
# The console's status filter: "running" is within its dates and not paused (budget left or not).
SEARCH_STATUSES = ("scheduled", "running", "paused", "ended")


def _search_condition(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "running":
        return running_at(now)
    return _status_condition(CampaignStatus(status), now)


async def search(
    session: AsyncSession,
    *,
    q: str = "",
    status: str | None = None,
    discount_type: DiscountType | None = None,
    sort: str = "newest",
    now: datetime,
    skip: int,
    limit: int,
) -> tuple[int, Sequence[Campaign]]:
    """How many campaigns match, and one page of them: the name contains `q` (any case), the
    status is one of SEARCH_STATUSES, sorted by one of SEARCH_ORDERS. Paged in SQL; counted unless the
    page is the last."""
    conditions: list[ColumnElement[bool]] = [Campaign.deleted_at.is_(None)]
    if q.strip():
        conditions.append(func.lower(Campaign.name).like(contains_pattern(q.strip().lower()), escape=LIKE_ESCAPE))
    if status:
        conditions.append(_search_condition(status, now))
    if discount_type is not None:
        conditions.append(Campaign.discount_type == discount_type)
    page = (
        await session.scalars(
            select(Campaign).where(*conditions).order_by(*SEARCH_ORDERS[sort]).offset(skip).limit(limit)
        )
    ).all()
    count = select(func.count()).select_from(Campaign).where(*conditions)
    return await total_of(session, count, skip=skip, limit=limit, shown=len(page)), page
