"""The create form's live preview: the discount its terms would give a sample checkout, priced by
the checkout's own rule functions (`app.discounts.rules`), so the preview cannot disagree with an apply."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from app.admin import forms
from app.campaigns.schemas import CampaignCreate
from app.core.money import ZERO
from app.discounts import rules
from app.discounts.exceptions import DiscountRefused


@dataclass(frozen=True)
class _PreviewTerms:
    """A campaign not yet created, as the discount rules read one: nothing spent, running."""

    discount_type: str
    discount_percentage: Decimal | None
    discount_flat: Decimal | None
    start_date: datetime
    end_date: datetime
    total_budget: Decimal
    max_usage_per_customer_per_day: int
    min_cart_value: Decimal
    max_discount_amount: Decimal | None
    is_targeted: bool = False
    is_paused: bool = False
    timezone: str | None = None
    deleted_at: datetime | None = None
    used_budget: Decimal = ZERO

    @property
    def remaining_budget(self) -> Decimal:
        return self.total_budget - self.used_budget


def _sample(values: dict[str, str], name: str) -> Decimal | None:
    try:
        amount = Decimal(values.get(name, "").strip() or "0")
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def discount_text(values: dict[str, str], store_timezone: str) -> str:
    """The discount the form's terms give the sample checkout, by the checkout's own rule functions."""
    cart, delivery = _sample(values, "sample_cart"), _sample(values, "sample_delivery")
    if cart is None or delivery is None:
        return "Discount: — (the sample values must be amounts, such as 100.00)"
    payload = forms.create_payload(values, store_timezone)
    # Only the terms that price a discount matter here: the rest may still be unfinished.
    payload.update(name="preview", is_targeted=False, target_customer_ids=[])
    try:
        data = CampaignCreate.model_validate(payload)
    except ValidationError as exc:
        field, message = next(iter(forms.field_errors(exc, values).items()))
        return f"Discount: — ({field or 'form'}: {message})"
    terms = _PreviewTerms(
        discount_type=data.discount_type,
        discount_percentage=data.discount_percentage,
        discount_flat=data.discount_flat,
        start_date=data.start_date,
        end_date=data.end_date,
        total_budget=data.total_budget,
        max_usage_per_customer_per_day=data.max_usage_per_customer_per_day,
        min_cart_value=data.min_cart_value,
        max_discount_amount=data.max_discount_amount,
    )
    try:
        amount = rules.evaluate(
            terms, checkout=rules.Checkout(cart, delivery), now=terms.start_date, is_target=True, uses_today=0
        )
    except DiscountRefused as exc:
        return f"No discount: {exc.detail}"
    return f"Discount: {amount:.2f}"
