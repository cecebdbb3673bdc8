"""The FastAPI application: `uvicorn app.main:app`."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app import __version__
from app.auth import service as auth_service
from app.campaigns.router import router as campaigns_router
from app.core.config import Settings, get_settings
from app.core.db import READ_ONLY, create_engine, create_sessionmaker
from app.core.errors import RateLimited, error_responses, install_error_handlers, is_connection_error
from app.core.middleware import BodySizeLimitMiddleware, ResponseHeadersMiddleware
from app.core.migrations import SchemaNotCurrent, ensure_schema_current
from app.core.openapi import install_openapi, operation_id
from app.core.ratelimit import RateLimiter, rate_limit
from app.customers.router import router as customers_router
from app.discounts.router import router as discounts_router
from app.idempotency import service as idempotency

logger = logging.getLogger("app")

HEALTH_TIMEOUT_SECONDS = 3.0


class ServiceInfo(BaseModel):
    name: str
    version: str
    docs: str
    environment: str
    auth: str  # "required" or "open"


class Health(BaseModel):
    status: str
    database: str


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    _configure_logging(settings.log_level)

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
            if not is_connection_error(exc):
                raise
            # Start anyway: /health says 503 until the database is back.
            logger.warning("database unreachable at startup (%s); serving 503 until it is back", exc)
        purge = asyncio.create_task(
            idempotency.purge_periodically(
                app.state.sessionmaker, interval_seconds=settings.idempotency_purge_interval_seconds
            )
        )
        yield
        purge.cancel()
        await app.state.engine.dispose()

    app = FastAPI(
        title=settings.app_name,
        version=__version__,
        description="Campaigns, available discounts and exact, concurrency-safe redemptions.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.engine = create_engine(settings)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.read_only_engine = app.state.engine.execution_options(**{READ_ONLY: True})
    app.state.rate_limiter = RateLimiter(settings)

    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "X-Process-Time"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ResponseHeadersMiddleware)

    app.include_router(_service_router())
    api = APIRouter(prefix="/api/v1")
    api.include_router(customers_router)
    api.include_router(campaigns_router)
    api.include_router(discounts_router)
    app.include_router(api)
    install_openapi(app)
    return app


def _service_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/", response_model=ServiceInfo)
    async def root(request: Request) -> dict[str, Any]:
        settings: Settings = request.app.state.settings
        try:
            auth = "open" if await _api_is_open(request.app) else "required"
        except Exception as exc:
            if not is_connection_error(exc):
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
    async def health(request: Request) -> Any:
        """A real round trip to the database."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                async with request.app.state.read_only_engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as exc:
            logger.warning("health check: database unavailable: %s", exc.__class__.__name__)
            return JSONResponse({"status": "unavailable", "database": "unavailable"}, status_code=503)
        return {"status": "ok", "database": "ok"}

    return router


async def _api_is_open(app: FastAPI) -> bool:
    if app.state.settings.auth_required:
        return False
    async with app.state.sessionmaker() as session:
        return not await auth_service.any_key_exists(session)


def _configure_logging(level: str) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("app").setLevel(level.upper())


app = create_app()
