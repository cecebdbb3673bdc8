"""Campaign use cases. Callers own the transaction; these functions only flush."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.audit import service as audit_service
from app.audit.models import AuditEvent
from app.auth.service import Principal
from app.campaigns.exceptions import BudgetBelowSpent, CampaignNotFound
from app.campaigns.models import Campaign, CampaignStatus, CampaignTarget, DiscountType
from app.campaigns.rules import running_at
from app.campaigns.schemas import CampaignCreate, CampaignUpdate, CampaignWrite
from app.core.errors import ValidationFailed
from app.customers import service as customers_service

_EDITABLE = tuple(name for name in CampaignWrite.model_fields if name != "target_customer_ids")


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """The editable fields as the audit log records them (the target list by its size)."""
    fields = {name: getattr(campaign, name) for name in _EDITABLE}
    return {**fields, "target_customers": len(campaign.targets)}


async def _check_targets(session: AsyncSession, data: CampaignWrite, max_targets: int) -> None:
    if len(data.target_customer_ids) > max_targets:
        raise ValidationFailed(
            f"target_customer_ids: at most {max_targets} customers per campaign", field="target_customer_ids"
        )
    missing = await customers_service.missing_ids(session, customer_ids=data.target_customer_ids)
    if missing:
        shown = ", ".join(str(customer_id) for customer_id in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise ValidationFailed(f"target_customer_ids: no customer with id {shown}{more}", field="target_customer_ids")


async def _set_targets(campaign: Campaign, customer_ids: list[int]) -> None:
    """Change the target list by difference: re-adding a kept row would collide with its old self."""
    wanted = set(customer_ids)
    current = await campaign.awaitable_attrs.targets
    kept = [target for target in current if target.customer_id in wanted]
    have = {target.customer_id for target in kept}
    campaign.targets = kept + [CampaignTarget(customer_id=customer_id) for customer_id in sorted(wanted - have)]


async def create(
    session: AsyncSession, *, data: CampaignCreate, actor: Principal, now: datetime, max_targets: int
) -> Campaign:
    await _check_targets(session, data, max_targets)
    campaign = Campaign(**{name: getattr(data, name) for name in _EDITABLE}, targets=[], created_at=now, updated_at=now)
    await _set_targets(campaign, data.target_customer_ids)
    session.add(campaign)
    await session.flush()
    await _audit(session, campaign, "created", snapshot(campaign), actor, now)
    return campaign


async def _audit(
    session: AsyncSession, campaign: Campaign, action: str, changes: dict[str, Any], actor: Principal, now: datetime
) -> None:
    await audit_service.record(
        session, entity_type="campaign", entity_id=campaign.id, action=action, actor=actor, changes=changes, now=now
    )


async def get(session: AsyncSession, *, campaign_id: int, with_targets: bool = False) -> Campaign:
    """A campaign that has not been deleted, or CampaignNotFound."""
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.deleted_at.is_(None))
    if with_targets:
        query = query.options(selectinload(Campaign.targets))
    campaign = await session.scalar(query)
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
) -> Sequence[Campaign]:
    query = select(Campaign).where(Campaign.deleted_at.is_(None)).options(selectinload(Campaign.targets))
    if discount_type is not None:
        query = query.where(Campaign.discount_type == discount_type)
    if is_targeted is not None:
        query = query.where(Campaign.is_targeted == is_targeted)
    if status is not None:
        query = query.where(_status_condition(status, now))
    result = await session.scalars(query.order_by(Campaign.id).offset(skip).limit(limit))
    return result.all()


async def replace(
    session: AsyncSession,
    *,
    campaign: Campaign,
    data: CampaignUpdate,
    actor: Principal,
    now: datetime,
    max_targets: int,
) -> Campaign:
    """PUT: every editable field replaced."""
    await _check_targets(session, data, max_targets)
    await _lock_for_edit(session, campaign)
    if data.total_budget < campaign.used_budget:
        raise BudgetBelowSpent(f"total_budget {data.total_budget} is below the {campaign.used_budget} already spent.")
    before = snapshot(campaign)
    for name in _EDITABLE:
        setattr(campaign, name, getattr(data, name))
    _edited(campaign, now)
    await _set_targets(campaign, data.target_customer_ids)
    await session.flush()
    await _audit(session, campaign, "updated", audit_service.diff(before, snapshot(campaign)), actor, now)
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
    return campaign


async def delete(session: AsyncSession, *, campaign_id: int, actor: Principal, now: datetime) -> None:
    """Soft-delete: one guarded UPDATE, so of several concurrent deletes exactly one succeeds
    (and writes the audit row); the others find it gone and answer CampaignNotFound."""
    deleted = await session.scalar(
        update(Campaign)
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


async def _lock_for_edit(session: AsyncSession, campaign: Campaign) -> None:
    """Lock the campaign's row and read it again: every edit starts here.

    Checkouts take the same row lock to spend budget, so an edit waits for the checkouts that
    priced on the old terms to commit, and the checkouts after it see its new version.
    """
    await session.refresh(campaign, with_for_update=True)
    if campaign.deleted_at is not None:
        raise CampaignNotFound()


def _edited(campaign: Campaign, now: datetime) -> None:
    """Mark new terms: checkouts priced on the old version will re-price."""
    campaign.version += 1
    campaign.updated_at = now


async def history(session: AsyncSession, *, campaign_id: int, skip: int, limit: int) -> Sequence[AuditEvent]:
    """The campaign's audit log, newest first; kept, and shown, after the campaign is deleted."""
    if await session.get(Campaign, campaign_id) is None:
        raise CampaignNotFound()
    return await audit_service.history(session, entity_type="campaign", entity_id=campaign_id, skip=skip, limit=limit)
