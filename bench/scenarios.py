"""The five scenarios of issue 10, and the one request of each that bench/sql/ records."""

from dataclasses import dataclass, field
from decimal import Decimal

from bench.data import LAYOUT


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    database: str  # "base" (100 live campaigns) or "crowd" (10,000 campaigns, about 100 can match)
    lua: str  # bench/wrk/<lua>.lua
    scripts: tuple[tuple[str, int], ...]  # pgbench: bench/sql/<name>.sql and its weight
    success: frozenset[str]  # statuses that are the work done
    expected_refusals: frozenset[str] = frozenset()  # "409 <code>" a run may meet without anything being wrong
    applies: bool = False  # spends budget: the ledger is checked after it
    hot: bool = False  # every request on the hot campaign

    @property
    def campaigns(self) -> tuple[int, int]:
        if self.hot:
            return LAYOUT.hot_campaign, LAYOUT.hot_campaign
        return LAYOUT.campaign_first, LAYOUT.campaign_last


_APPLY_REFUSALS = frozenset({"409 daily_limit_reached", "409 budget_exhausted"})

SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "apply",
            "apply, 100 live campaigns, 2,000 customers",
            "base",
            "apply",
            (("apply", 1),),
            frozenset({"201"}),
            _APPLY_REFUSALS,
            applies=True,
        ),
        Scenario(
            "hot",
            "apply, one hot campaign",
            "base",
            "hot",
            (("hot", 1),),
            frozenset({"201"}),
            _APPLY_REFUSALS,
            applies=True,
            hot=True,
        ),
        Scenario(
            "available", "available, 100 live campaigns", "base", "available", (("available", 1),), frozenset({"200"})
        ),
        Scenario(
            "available10k",
            "available, 10,000 campaigns (about 100 can match)",
            "crowd",
            "available",
            (("available10k", 1),),
            frozenset({"200"}),
        ),
        Scenario(
            "mixed",
            "checkout: 5 available per apply (Idempotency-Key)",
            "base",
            "mixed",
            (("available", 5), ("mixed_apply", 1)),
            frozenset({"200", "201"}),
            _APPLY_REFUSALS,
            applies=True,
        ),
    )
}
# Run in this order: the apply scenarios first leave today's uses and redemptions behind, as a
# day of checkouts does, before `available` reads them.
ORDER = ["apply", "hot", "available", "mixed", "available10k"]


# pgbench draws a new checkout for every transaction, as wrk does for every request.
_CHECKOUT = (
    "\\set customer random(:customer_first, :customer_last)",
    "\\set cart random(10000, 99999) / 100.0",
    "\\set delivery random(500, 1999) / 100.0",
)
_SPEND = ("\\set amount random(100, 2000) / 100.0",)


@dataclass(frozen=True)
class Recording:
    """One request sent through the real app to record a bench/sql/<name>.sql script."""

    name: str
    database: str
    path: str
    campaign: str | None  # "live" (a percentage cart campaign of the 100), "hot", or None (available)
    idempotent: bool
    header: tuple[str, ...] = field(default=())


RECORDINGS = {
    recording.name: recording
    for recording in (
        Recording(
            "apply",
            "base",
            "/api/v1/discounts/apply",
            "live",
            False,
            (*_CHECKOUT, "\\set campaign random(:campaign_first, :campaign_last)", *_SPEND),
        ),
        Recording(
            "hot",
            "base",
            "/api/v1/discounts/apply",
            "hot",
            False,
            (*_CHECKOUT, "\\set campaign :campaign_first", *_SPEND),
        ),
        Recording("available", "base", "/api/v1/discounts/available", None, False, _CHECKOUT),
        Recording("available10k", "crowd", "/api/v1/discounts/available", None, False, _CHECKOUT),
        Recording(
            "mixed_apply",
            "base",
            "/api/v1/discounts/apply",
            "live",
            True,
            (
                *_CHECKOUT,
                "\\set campaign random(:campaign_first, :campaign_last)",
                *_SPEND,
                "\\set idem random(1, 9000000000000000000)",
            ),
        ),
    )
}

# The checkout every recording sends: values no other parameter of the statements takes, so that
# bench/sql.py can tell which parameter is the cart, which the delivery charge...
RECORD_CART = Decimal("123.45")
RECORD_DELIVERY = Decimal("7.89")
