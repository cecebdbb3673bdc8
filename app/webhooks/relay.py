"""The relay: sends committed events to their endpoints (docs/webhooks.md)."""

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings


async def serve(engine: AsyncEngine, settings: Settings) -> None:
    """Run the relay until cancelled."""
