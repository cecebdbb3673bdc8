"""Placeholder until the campaigns pages land."""

from fastapi import APIRouter

router = APIRouter()
