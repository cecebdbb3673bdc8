"""The create form's live preview: the discount its terms would give a sample checkout, priced by
the checkout's own rule functions (`app.discounts.rules`), so the preview cannot disagree with an apply."""

from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from app.admin import forms
from app.campaigns.schemas import CampaignCreate
from app.core.money import ZERO, Money
from app.discounts import rules
from app.discounts.exceptions import DiscountRefused
from app.discounts.queries import Terms

_AMOUNT = TypeAdapter(Money)


def _sample(values: dict[str, str], name: str) -> Decimal | None:
    """A sample amount read as a checkout's cart value is: two decimals at most, within the limits."""
    try:
        return _AMOUNT.validate_python(values.get(name, "").strip() or "0")
    except ValidationError:
        return None


def discount_text(values: dict[str, str], store_timezone: str) -> str:
    """The discount the form's terms give the sample checkout, by the checkout's own rule functions."""
    cart, delivery = _sample(values, "sample_cart"), _sample(values, "sample_delivery")
    if cart is None or delivery is None:
        return "Discount: — (the sample values must be amounts with at most two decimals, such as 100.00)"
    payload = forms.create_payload(values, store_timezone)
    # Only the terms that price a discount matter here: the rest may still be unfinished.
    payload.update(name="preview", is_targeted=False, target_customer_ids=[])
    try:
        data = CampaignCreate.model_validate(payload)
    except ValidationError as exc:
        field, message = next(iter(forms.field_errors(exc, values).items()))
        return f"Discount: — ({field or 'form'}: {message})"
    # A campaign not yet created, as a checkout reads one: nothing spent yet, running.
    terms = Terms(
        id=0,
        version=0,
        name=data.name,
        discount_type=data.discount_type,
        discount_percentage=data.discount_percentage,
        discount_flat=data.discount_flat,
        start_date=data.start_date,
        end_date=data.end_date,
        total_budget=data.total_budget,
        used_budget=ZERO,
        max_usage_per_customer_per_day=data.max_usage_per_customer_per_day,
        min_cart_value=data.min_cart_value,
        max_discount_amount=data.max_discount_amount,
        is_targeted=False,
        is_paused=False,
        timezone=data.timezone,
        deleted_at=None,
    )
    try:
        amount = rules.evaluate(
            terms, checkout=rules.Checkout(cart, delivery), now=terms.start_date, is_target=True, uses_today=0
        )
    except DiscountRefused as exc:
        return f"No discount: {exc.detail}"
    return f"Discount: {amount:.2f}"
