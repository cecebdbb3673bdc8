"""CSV downloads: streamed a chunk at a time, so a million rows take no more memory than a thousand.

Every CSV the service answers (a campaign's codes, the redemption report, the console's download) is
written here: one dialect (RFC 4180 line ends), one media type, one way to stream and to document it.
"""

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

MEDIA_TYPE = "text/csv"

Cells = Sequence[object]


def csv_text(rows: Iterable[Cells]) -> str:
    """Rows as CSV lines (`\\r\\n` after each), cells written as `str` writes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def csv_download(header: Cells, chunks: AsyncIterator[Iterable[Cells]], *, filename: str) -> StreamingResponse:
    """A CSV attachment: the header line, then each chunk's lines as the chunk comes."""

    async def lines() -> AsyncIterator[str]:
        yield csv_text([header])
        async for chunk in chunks:
            yield csv_text(chunk)

    return StreamingResponse(
        lines(),
        media_type=f"{MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_content() -> dict[str, Any]:
    """The `content` of an OpenAPI response that is CSV."""
    return {MEDIA_TYPE: {"schema": {"type": "string"}}}


def prefers_csv(accept: str | None) -> bool:
    """Whether an Accept header asks for CSV before JSON: `text/csv` named with a weight above 0 and at
    least JSON's (`*/*` or no header at all is JSON's, the service's default)."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    csv_weight = weights.get(MEDIA_TYPE, 0.0)
    return csv_weight > 0 and csv_weight >= weights.get("application/json", 0.0)
