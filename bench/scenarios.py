"""The scenarios of issues 10 and 16, and the one request of each that bench/sql/ records."""

from dataclasses import dataclass, field
from decimal import Decimal

from bench.data import LAYOUT, SHARED_CODE


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    database: str  # bench.data.KINDS: "base" (100 live campaigns), "crowd" (10,100, 100 can match), "checkout"
    lua: str  # bench/wrk/<lua>.lua
    scripts: tuple[tuple[str, int], ...]  # pgbench: bench/sql/<name>.sql and its weight
    success: frozenset[str]  # statuses that are the work done
    expected_refusals: frozenset[str] = frozenset()  # "409 <code>" a run may meet without anything being wrong
    applies: bool = False  # spends budget: the ledger is checked after it
    hot: bool = False  # every request on the hot campaign
    clients: tuple[int, ...] | None = None  # only these client counts (of --clients); None: every one
    writes: int = 1  # the most redemptions one request writes (a checkout: one per discount)
    # The lean-handler baseline (bench/bare_handler.py) sends the scenario's script at the same points:
    # True for the scenarios whose one script it can send (apply, hot, available, available10k, quote).
    bare: bool = False

    @property
    def bare_script(self) -> str | None:
        return self.scripts[0][0] if self.bare and len(self.scripts) == 1 else None

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
            bare=True,
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
            bare=True,
        ),
        Scenario(
            "available",
            "available, 100 live campaigns",
            "base",
            "available",
            (("available", 1),),
            frozenset({"200"}),
            bare=True,
        ),
        Scenario(
            "available10k",
            "available, 10,100 campaigns (100 live open to all, 5,000 ended, 5,000 targeted at others)",
            "crowd",
            "available",
            (("available10k", 1),),
            frozenset({"200"}),
            bare=True,
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
        Scenario(
            "quote",
            "quote with a code (a cart campaign by code, free delivery)",
            "checkout",
            "quote",
            (("quote", 1),),
            frozenset({"200"}),
            clients=(32,),
            bare=True,
        ),
        Scenario(
            "checkout",
            "checkout: a shared code's cart campaign and free delivery, 2 redemptions",
            "checkout",
            "checkout",
            (("checkout", 1),),
            frozenset({"201"}),
            _APPLY_REFUSALS,
            applies=True,
            clients=(32,),
            writes=2,
        ),
    )
}
# Run in this order: the apply scenarios first leave today's uses and redemptions behind, as a
# day of checkouts does, before `available` reads them.
ORDER = ["apply", "hot", "available", "mixed", "quote", "checkout", "available10k"]


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
    campaign: str | None  # "live" (a percentage cart campaign of the 100), "hot", or None (available, quote, checkout)
    idempotent: bool
    header: tuple[str, ...] = field(default=())
    codes: tuple[str, ...] = ()  # sent in the body (quote and checkout)


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
        Recording("quote", "checkout", "/api/v1/checkouts/quote", None, False, _CHECKOUT, (SHARED_CODE,)),
        # The cart campaign's discount is :amount; the delivery campaign's (100% off) is :delivery.
        Recording("checkout", "checkout", "/api/v1/checkouts/", None, False, (*_CHECKOUT, *_SPEND), (SHARED_CODE,)),
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
