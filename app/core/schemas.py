"""Field types and base models shared by every domain's schemas."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_ID = 2_147_483_647  # ids are 32-bit integers in the database

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Printable text: PostgreSQL refuses NUL bytes in text, so they are refused here with a 422.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\x00]*$")]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")]

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
Skip = Annotated[int, Query(ge=0, le=MAX_ID, description="How many items to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="How many items to return (at most 1000).")]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
