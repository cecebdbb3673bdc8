"""/api/v1/reports: what finance reads, as JSON or CSV."""

from fastapi import APIRouter

router = APIRouter(prefix="/reports", tags=["reports"])
