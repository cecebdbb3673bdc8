"""Counting a checkout's codes against the guessing limits (app.core.http.ratelimit): before the lookup,
per API key and per customer; the codes that turn out valid are given back after it."""

from collections.abc import Sequence

from fastapi import Request

from app.auth.service import Principal
from app.checkouts.queries import CustomerRef
from app.core.http.ratelimit import CodeAttempts, RateLimiter, client_ip
from app.discounts.rules import Reason


async def count(request: Request, caller: Principal, customer: CustomerRef, codes: int) -> CodeAttempts:
    limiter: RateLimiter = request.app.state.rate_limiter
    who = caller.key_prefix or f"ip:{client_ip(request)}"
    named = f"id:{customer.id}" if customer.external_id is None else f"external:{customer.external_id}"
    return await limiter.count_codes(caller=who, customer=named, codes=codes)


async def settle(request: Request, attempts: CodeAttempts, reasons: Sequence[Reason]) -> None:
    """`reasons`: why each code sent was not used; every code not `code_invalid` was no failure."""
    limiter: RateLimiter = request.app.state.rate_limiter
    invalid = sum(1 for reason in reasons if reason == Reason.CODE_INVALID)
    await limiter.give_back(attempts, attempts.codes - invalid)
