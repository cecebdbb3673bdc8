"""What can go wrong with campaigns."""

from app.core.http.errors import Conflict, NotFound


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    detail = "No campaign has this id."


class BudgetBelowSpent(Conflict):
    code = "budget_below_spent"
    detail = "total_budget cannot be set below what the campaign has already spent."


class CampaignChanged(Conflict):
    code = "campaign_changed"
    detail = "The campaign was changed after the edit was prepared; nothing was saved."
