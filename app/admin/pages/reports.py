"""The console's Reports page."""

from fastapi import APIRouter

router = APIRouter()
