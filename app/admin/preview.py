"""The create form's live preview: the discount its terms would give a sample checkout, priced by
the checkout's own rule functions (`app.discounts.rules`), so the preview cannot disagree with an apply."""

from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from app.admin import forms
from app.campaigns.rules import Terms
from app.campaigns.schemas import CampaignCreate
from app.core.money import ZERO, Money
from app.discounts import rules

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
    terms = Terms.of(data, id=0, version=0, used_budget=ZERO, is_paused=False, deleted_at=None, requires_code=False)
    result = rules.evaluate(
        terms,
        checkout=rules.Checkout(cart, delivery),
        now=terms.start_date,
        is_target=True,
        uses_today=0,
        asked=rules.Asked(by_name=True),
    )
    if isinstance(result, rules.Refusal):
        return f"No discount: {result.detail}"
    return f"Discount: {result:.2f}"
