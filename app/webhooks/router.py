"""/api/v1/webhooks: register endpoints, rotate their secrets, read and retry their deliveries."""

from fastapi import APIRouter

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
