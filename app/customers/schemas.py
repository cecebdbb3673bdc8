"""Customer payloads."""

from datetime import datetime

from pydantic import EmailStr, Field

from app.core.schemas import Name, RequestModel, ResponseModel


class CustomerCreate(RequestModel):
    email: EmailStr = Field(max_length=320, examples=["ada@example.com"])
    name: Name = Field(examples=["Ada Lovelace"])


class CustomerRead(ResponseModel):
    id: int
    email: str
    name: str
    created_at: datetime
