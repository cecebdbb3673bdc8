"""The redemption report as a CSV download: one definition for the API and the console."""

from collections.abc import AsyncIterator, Iterable

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.http.csv_export import Cells, csv_download
from app.reports import service
from app.reports.period import Period
from app.reports.schemas import CSV_COLUMNS, ReportRow


def csv_cells(row: ReportRow) -> Cells:
    """A row as CSV cells: money with two decimals (`-24.69`, `0.00`), the day as YYYY-MM-DD."""
    return (*row[:5], f"{row.discount_total:.2f}", f"{row.cart_total:.2f}", row.customers)


def csv_report(
    sessionmaker: async_sessionmaker[AsyncSession], *, period: Period, timezone: str, campaign_id: int | None
) -> StreamingResponse:
    """The report's rows streamed as CSV, a window of days at a time (service.report)."""

    async def chunks() -> AsyncIterator[Iterable[Cells]]:
        async for rows in service.report(sessionmaker, period=period, timezone=timezone, campaign_id=campaign_id):
            yield map(csv_cells, rows)

    named = f"-campaign-{campaign_id}" if campaign_id is not None else ""
    return csv_download(CSV_COLUMNS, chunks(), filename=f"redemptions{named}-{period.first}-{period.last}.csv")
