"""The command line: `python -m app --help`."""

import asyncio
import re
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.progress import MofNCompleteColumn, Progress
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.models import Scope
from app.auth.service import Principal
from app.campaigns import service as campaigns_service
from app.campaigns.exceptions import CampaignNotFound
from app.codes import rules as code_rules
from app.codes import service as codes_service
from app.core.clock import utc_now
from app.core.config import settings_or_exit
from app.core.db.errors import is_unreachable
from app.core.db.migrations import SchemaNotCurrent, ensure_schema_current
from app.core.db.session import create_engine, create_sessionmaker
from app.core.observability.logs import configure_logging, escape
from app.discounts import ledger
from app.idempotency import service as idempotency
from app.webhooks import relay

cli = typer.Typer(
    help="Campaign & Discount Service administration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction on DATABASE_URL; a database that is down or not migrated
    ends the command with a one-line explanation and exit code 2, not a traceback."""
    settings = settings_or_exit()

    async def run() -> T:
        engine = create_engine(settings)
        try:
            await ensure_schema_current(engine)
            async with create_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    where = _displayed_url(settings.database_url)
    try:
        return asyncio.run(run())
    except SchemaNotCurrent as exc:
        typer.echo(f"error: {where}: {exc}", err=True)
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        typer.echo(f"error: cannot reach the database at {where}: {type(exc).__name__}: {exc}", err=True)
    raise typer.Exit(2)


def _displayed_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys, name="keys")


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. checkout-eu.")],
    scope: Annotated[list[Scope], typer.Option(help="A scope to grant; repeat for several.")],
) -> None:
    """Create a key and print it once, alone on the last line (it is stored only as a hash)."""
    problem = auth_service.name_problem(name)
    if problem is not None:
        typer.echo(f"error: --name: {problem}.", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()

    async def create(session: AsyncSession) -> tuple[str, str]:
        api_key, plaintext = await auth_service.create(
            session, name=name, scopes=scope, secret=settings.api_key_secret.get_secret_value()
        )
        return api_key.prefix, plaintext

    prefix, plaintext = _in_transaction(create)
    typer.echo(f"Created API key {prefix} ({escape(name)}) with scopes: {' '.join(sorted(scope))}.", err=True)
    typer.echo("Store it now: it cannot be shown again.", err=True)
    typer.echo(plaintext)


@keys.command("list")
def list_keys() -> None:
    """Every key: prefix, name, scopes, created, last used, revoked."""
    rows = _in_transaction(auth_service.list_)
    if not rows:
        typer.echo("No API keys yet: the API is open in development. Create one with `keys create`.")
        return
    typer.echo(f"{'PREFIX':<18} {'NAME':<24} {'SCOPES':<32} {'CREATED':<20} {'LAST USED':<20} REVOKED")
    for key in rows:
        typer.echo(
            f"{escape(key.prefix):<18} {escape(key.name)[:24]:<24} {escape(key.scopes)[:32]:<32} "
            f"{_when(key.created_at):<20} {_when(key.last_used_at):<20} {_when(key.revoked_at)}"
        )


@keys.command("revoke")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix, as `keys list` shows it.")]) -> None:
    """Revoke a key: every worker refuses it within a second (app.auth.revocations)."""
    api_key = _in_transaction(lambda session: auth_service.revoke(session, prefix=prefix, now=utc_now()))
    if api_key is None:
        typer.echo(f"No API key has the prefix {escape(prefix)}.", err=True)
        raise typer.Exit(1)
    seconds = settings_or_exit().api_key_cache_seconds
    typer.echo(
        f"Revoked {escape(api_key.prefix)} ({escape(api_key.name)}): every worker of the service refuses it "
        f"within a second (within {seconds:g} s in a worker that logs that it cannot hear revocations)."
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


codes = typer.Typer(help="Generate a campaign's codes.", no_args_is_help=True)
cli.add_typer(codes, name="codes")


@codes.command("generate")
def generate_codes(
    campaign: Annotated[int, typer.Argument(help="The campaign's id.", min=1)],
    count: Annotated[int, typer.Option(help="How many codes to make.", min=1)],
    pattern: Annotated[str, typer.Option(help="Each # one random character, e.g. SUM-####-####.")],
    max_redemptions: Annotated[int, typer.Option(help="Uses each code allows; 0: no limit.", min=0)] = 1,
) -> None:
    """Generate any number of codes for a campaign, with a progress bar, in one transaction (all or none);
    prints the batch id. The API's POST .../codes makes at most 100,000 per call."""
    problem = code_rules.keyspace_problem(pattern.upper(), count)
    pattern_ok = re.fullmatch(code_rules.PATTERN_PATTERN, pattern) and len(pattern) <= code_rules.MAX_LENGTH
    if not pattern_ok:
        typer.echo("error: --pattern: letters, digits, spaces, hyphens and # only, at most 64 characters.", err=True)
        raise typer.Exit(2)
    if problem is not None:
        typer.echo(f"error: --pattern: {problem}.", err=True)
        raise typer.Exit(2)
    actor = Principal(name="command line", key_prefix=None, scopes=frozenset({Scope.ADMIN}))

    async def generate(session: AsyncSession) -> str:
        await campaigns_service.get(session, campaign_id=campaign)
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), transient=False) as progress:
            task = progress.add_task(f"campaign {campaign}", total=count)
            return await codes_service.generate(
                session,
                campaign_id=campaign,
                count=count,
                pattern=pattern,
                max_redemptions=max_redemptions or None,
                actor=actor,
                now=utc_now(),
                progress=lambda added: progress.advance(task, added),
            )

    try:
        batch_id = _in_transaction(generate)
    except CampaignNotFound:
        typer.echo(f"error: no campaign has the id {campaign}.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Generated {count} codes for campaign {campaign}: batch {batch_id}.")


@cli.command()
def reconcile() -> None:
    """Check that every campaign's used_budget (its budget slices' sum) equals its applied redemptions,
    that its slices' allotments add up to its total_budget, and that every daily use count equals its
    redemptions. Prints each mismatch; exits 1 if there is one."""

    async def check(session: AsyncSession) -> list[str]:
        budgets = await ledger.budget_mismatches(session)
        allotments = await ledger.slice_mismatches(session)
        usages = await ledger.usage_mismatches(session)
        return [str(mismatch) for mismatch in [*budgets, *allotments, *usages]]

    mismatches = _in_transaction(check)
    for line in mismatches:
        typer.echo(f"MISMATCH {line}")
    if mismatches:
        typer.echo(f"{len(mismatches)} mismatch(es) found.", err=True)
        raise typer.Exit(1)
    typer.echo(
        "Ledger balanced: every campaign's used_budget equals its applied redemptions, and its slices' "
        "allotments its total_budget."
    )


webhooks = typer.Typer(help="Send webhook events.", no_args_is_help=True)
cli.add_typer(webhooks, name="webhooks")


@webhooks.command("relay")
def webhook_relay() -> None:
    """Run the webhook relay in this process until Ctrl-C (or SIGTERM): it sends committed events to their
    endpoints, sharing the work with any other relay (the workers' own, unless WEBHOOK_RELAY=off)."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.effective_log_format)
    where = _displayed_url(settings.database_url)

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await ensure_schema_current(engine)
            typer.echo(f"Webhook relay on {where}; Ctrl-C stops it.", err=True)
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            await relay.serve(engine, settings)
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        typer.echo("Webhook relay stopped.", err=True)
    except SchemaNotCurrent as exc:
        typer.echo(f"error: {where}: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        typer.echo(f"error: cannot reach the database at {where}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command("purge-idempotency-keys")
def purge_idempotency_keys() -> None:
    """Delete expired Idempotency-Keys now (the service also does this in the background)."""
    total = 0
    while True:
        deleted = _in_transaction(lambda session: idempotency.purge_expired(session, now=utc_now()))
        total += deleted
        if deleted == 0:
            break
    typer.echo(f"Purged {total} expired idempotency key(s).")
