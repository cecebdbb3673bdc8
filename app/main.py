"""The FastAPI application: `uvicorn app.main:app`."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from sqlalchemy import text

from app import __version__
from app.admin.router import install_console
from app.auth import cache as key_cache
from app.auth import revocations
from app.auth import service as auth_service
from app.auth.dependencies import access
from app.auth.exceptions import InsufficientScope, Unauthorized
from app.auth.models import Scope
from app.campaigns.router import router as campaigns_router
from app.checkouts.router import router as checkouts_router
from app.codes.router import router as codes_router
from app.core.clock import utc_now
from app.core.config import Settings, get_settings, settings_or_exit
from app.core.db.errors import install_database_error_handling, is_unreachable
from app.core.db.migrations import SchemaNotCurrent, ensure_schema_current
from app.core.db.session import create_engine, create_sessionmaker, read_only
from app.core.http.errors import RateLimited, error_responses, install_error_handlers
from app.core.http.lean import serve_lean
from app.core.http.middleware import (
    BodySizeLimitMiddleware,
    JsonCORSMiddleware,
    ResponseHeadersMiddleware,
    RouteRecorder,
)
from app.core.http.openapi import install_openapi, operation_id
from app.core.http.ratelimit import LimiterState, RateLimiter, rate_limit
from app.core.http.routing import install_method_not_allowed
from app.core.observability import metrics
from app.core.observability.logs import configure_logging
from app.customers.router import router as customers_router
from app.discounts.router import router as discounts_router
from app.idempotency import service as idempotency
from app.reports.router import router as reports_router
from app.webhooks import relay
from app.webhooks.router import router as webhooks_router

logger = logging.getLogger("app")

HEALTH_TIMEOUT_SECONDS = 3.0


class ServiceInfo(BaseModel):
    name: str
    version: str
    docs: str
    environment: str
    auth: str  # "required" or "open"


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    # Informational: a degraded limiter serves without limits, so it never makes the service unhealthy.
    rate_limiter: LimiterState


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logger.info("starting on %s", app.state.engine.url.render_as_string(hide_password=True))
        try:
            await ensure_schema_current(app.state.engine)
            if await _api_is_open(app):
                logger.warning(
                    "the API is OPEN: no API key exists and AUTH_REQUIRED is off (APP_ENV=development); "
                    "create a key with `python -m app keys create` to close it"
                )
        except SchemaNotCurrent:
            raise
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            # Start anyway: /health says 503 until the database is back.
            logger.warning("database unreachable at startup (%s); serving 503 until it is back", exc)
        background = [
            asyncio.create_task(
                idempotency.purge_periodically(
                    app.state.sessionmaker, interval_seconds=settings.idempotency_purge_interval_seconds
                )
            ),
            asyncio.create_task(key_cache.flush_last_use_periodically(app.state.key_cache, app.state.sessionmaker)),
        ]
        if settings.api_key_cache_seconds > 0:  # a revoked key leaves every worker's cache at once
            background.append(
                asyncio.create_task(
                    revocations.watch(
                        app.state.key_cache,
                        app.state.engine,
                        app.state.read_sessionmaker,
                        connect_timeout_seconds=settings.db_connect_timeout_seconds,
                    )
                )
            )
        if settings.webhook_relay == "worker":  # docs/webhooks.md: why in the workers by default
            background.append(asyncio.create_task(relay.serve(app.state.engine, settings)))
        yield
        for task in background:
            task.cancel()
        with contextlib.suppress(Exception):
            await key_cache.flush_last_use(app.state.key_cache, app.state.sessionmaker)
        await app.state.engine.dispose()
        metrics.forget_this_worker()

    # /docs and /redoc with their scripts, styles and icon served by the service itself
    # (fastapi-offline), not from a CDN: the docs work offline and behind a strict firewall.
    app = FastAPIOffline(
        title=settings.app_name,
        version=__version__,
        description="Campaigns, available discounts and exact, concurrency-safe redemptions.",
        lifespan=lifespan,
        # Swagger UI would otherwise send the schema to swagger.io's online validator.
        swagger_ui_parameters={"validatorUrl": None},
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.engine = create_engine(settings)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.read_only_engine = read_only(app.state.engine)
    app.state.read_sessionmaker = create_sessionmaker(app.state.read_only_engine)
    app.state.key_cache = key_cache.KeyCache(ttl_seconds=settings.api_key_cache_seconds)
    app.state.rate_limiter = RateLimiter(settings)
    if settings.metrics_enabled:
        metrics.watch_pool(app.state.engine)

    # Innermost: it sees the router's scope, which the transaction retry copies (middleware.py).
    app.add_middleware(RouteRecorder)
    install_error_handlers(app)
    install_database_error_handling(app, attempts=settings.db_transaction_attempts)
    install_method_not_allowed(app)
    if settings.cors_origins:
        app.add_middleware(
            JsonCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "X-Process-Time"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ResponseHeadersMiddleware, count_metrics=settings.metrics_enabled)

    app.include_router(_service_router())
    if settings.metrics_enabled:
        app.include_router(_metrics_router(public=settings.metrics_public))
    # Each included directly: a router included in a router costs every request a second round of matching.
    for domain_router in (
        customers_router,
        campaigns_router,
        codes_router,
        discounts_router,
        checkouts_router,
        webhooks_router,
        reports_router,
    ):
        app.include_router(domain_router, prefix="/api/v1")
    serve_lean(app)  # the checkout's hot path, without the dependency tree (app.core.http.lean)
    if settings.admin_console_enabled:
        install_console(app)
    install_openapi(app)
    return app


def _service_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/", response_model=ServiceInfo)
    @router.head("/", response_model=ServiceInfo, include_in_schema=False)
    async def root(request: Request) -> dict[str, Any]:
        settings: Settings = request.app.state.settings
        try:
            auth = "open" if await _api_is_open(request.app) else "required"
        except Exception as exc:
            if not is_unreachable(exc):
                raise
            auth = "required" if settings.auth_required else "unknown (database unavailable)"
        return {
            "name": request.app.title,
            "version": __version__,
            "docs": "/docs",
            "environment": settings.app_env,
            "auth": auth,
        }

    @router.get(
        "/health",
        response_model=Health,
        dependencies=[Depends(rate_limit("health"))],
        responses={
            503: {"model": Health, "description": "The database did not answer"},
            **error_responses(RateLimited),
        },
    )
    # Load balancers probe with HEAD too: the same check, without the body.
    @router.head(
        "/health", response_model=Health, dependencies=[Depends(rate_limit("health"))], include_in_schema=False
    )
    async def health(request: Request) -> Any:
        """A real round trip to the database, which alone decides 200 or 503; and the state of the
        rate limiter (`degraded` while its storage fails and requests are served without limits)."""
        limiter: RateLimiter = request.app.state.rate_limiter
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                async with request.app.state.read_only_engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            logger.warning("health check: database unavailable: %s", exc.__class__.__name__)
            body = {"status": "unavailable", "database": "unavailable", "rate_limiter": limiter.state}
            return JSONResponse(body, status_code=503)
        return {"status": "ok", "database": "ok", "rate_limiter": limiter.state}

    return router


def _metrics_router(*, public: bool) -> APIRouter:
    router = APIRouter(tags=["service"])
    # A scraper on a private network (METRICS_PUBLIC=true) sends no key; it is limited per IP instead.
    guard = Depends(rate_limit("read")) if public else Depends(access("read", Scope.METRICS, Scope.READ))
    refusals = (RateLimited,) if public else (Unauthorized, InsufficientScope, RateLimited)

    @router.get(
        "/metrics",
        response_class=Response,
        dependencies=[guard],
        responses={
            200: {
                "description": "Every worker's metrics, in Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **error_responses(*refusals),
        },
        # As on /api/v1: a key, or none while the API is open (development, no key yet).
        openapi_extra={} if public else {"security": [{"bearer": []}, {"apiKey": []}, {}]},
    )
    async def prometheus_metrics(request: Request) -> Response:
        """Request counts and latencies by route, applies by outcome, discount money given, database
        connections in use, rate limit storage failures, webhook deliveries by outcome and the webhook
        queue. Needs a key with the `read` scope unless METRICS_PUBLIC=true."""
        queue = await relay.backlog_metrics(request.app.state.read_only_engine, now=utc_now())
        return Response(await metrics.render() + queue, media_type=metrics.CONTENT_TYPE)

    return router


async def _api_is_open(app: FastAPI) -> bool:
    if app.state.settings.auth_required:
        return False
    async with app.state.sessionmaker() as session:
        return not await auth_service.any_key_exists(session)


@cache
def _app_from_environment() -> FastAPI:
    # Settings that do not validate end the process with their reasons, not a traceback that quotes them.
    return create_app(settings_or_exit())


def __getattr__(name: str) -> FastAPI:
    """`app`, built from the environment on first use (`uvicorn app.main:app`): importing this module
    (the tests do, for `create_app`) reads no settings and opens nothing."""
    if name == "app":
        return _app_from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
