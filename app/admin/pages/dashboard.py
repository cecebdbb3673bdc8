"""Placeholder until the dashboard pages land."""

from fastapi import APIRouter

router = APIRouter()
