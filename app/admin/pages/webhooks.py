"""The console's Webhooks page."""

from fastapi import APIRouter

router = APIRouter()
