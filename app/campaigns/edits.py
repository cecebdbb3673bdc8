"""What a PUT or PATCH makes of a campaign. Pure: no database, no HTTP.

An edit names the fields it changes; the others keep their stored values. The result is
checked by the model a create is checked by (`CampaignWrite`), so it obeys the same rules
and fails with the same messages.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.campaigns.models import Campaign
from app.campaigns.schemas import KEPT_TARGETS, CampaignWrite

# The fields stored on the campaign row (the targets live in their own table).
EDITABLE = tuple(name for name in CampaignWrite.model_fields if name != "target_customer_ids")


@dataclass(frozen=True)
class Edit:
    campaign: CampaignWrite
    # The new target list, or None: the stored targets stay as they are.
    target_customer_ids: list[int] | None


def stored_fields(campaign: Campaign) -> dict[str, Any]:
    fields = {name: getattr(campaign, name) for name in EDITABLE}
    fields["budget_thresholds"] = json.loads(fields["budget_thresholds"])
    return fields


def row_values(campaign: CampaignWrite) -> dict[str, Any]:
    """The editable fields as the campaign's row stores them (the budget thresholds as JSON text)."""
    values = {name: getattr(campaign, name) for name in EDITABLE}
    values["budget_thresholds"] = json.dumps(campaign.budget_thresholds, separators=(",", ":"))
    return values


def merge(stored: Mapping[str, Any], changes: Mapping[str, Any], *, target_count: int) -> Edit:
    """The campaign after an edit naming `changes`, or pydantic's ValidationError.

    `stored` holds the row's fields (`stored_fields`) and `target_count` how many targets it
    has. Naming one kind of discount (not null) clears the other unless both are named, so
    `{"discount_flat": 5}` switches a percentage campaign to flat. Naming `is_targeted: false`
    clears the targets; a targeted campaign whose edit does not name target_customer_ids
    keeps its targets, counted rather than loaded.
    """
    merged = {**stored, **changes}
    for named, other in (("discount_flat", "discount_percentage"), ("discount_percentage", "discount_flat")):
        if changes.get(named) is not None and other not in changes:
            merged[other] = None
    targets_named = "target_customer_ids" in changes
    keeps_targets = not targets_named and merged.get("is_targeted") is True
    kept = target_count if keeps_targets else 0
    campaign = CampaignWrite.model_validate(merged, context={KEPT_TARGETS: kept})
    clears_targets = not targets_named and not campaign.is_targeted and target_count > 0
    return Edit(campaign, campaign.target_customer_ids if targets_named or clears_targets else None)
