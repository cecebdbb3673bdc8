"""What a report request can get wrong."""

from app.core.http.errors import ValidationFailed


class ReportRangeInvalid(ValidationFailed):
    """A 422 like any refused query parameter (`errors` names `from`), with a code of its own."""

    code = "report_range_invalid"
    detail = "from must be on or before to."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or type(self).detail, field="from", location="query")
