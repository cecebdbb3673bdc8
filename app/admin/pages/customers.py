"""Placeholder until the customers pages land."""

from fastapi import APIRouter

router = APIRouter()
