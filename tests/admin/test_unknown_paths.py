"""A path nothing answers: under /admin the console's HTML page, everywhere else the API's JSON."""

import httpx
import pytest
from fastapi import FastAPI

from tests.admin.conftest import SignIn


@pytest.mark.parametrize(
    "path", ["/admin/nope", "/admin/campaigns/1/nope", "/admin/customers/1/redemptions", "/admin/static/nope.css"]
)
async def test_an_unknown_console_path_is_the_consoles_not_found_page(console: SignIn, path: str) -> None:
    admin = await console("read")
    answer = await admin.client.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in answer.text
    assert "Content-Security-Policy" in answer.headers


async def test_a_stranger_gets_the_same_page_and_nothing_else(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as stranger:
        answer = await stranger.get("/admin/nope")
    assert answer.status_code == 404
    assert "<h1>Not found</h1>" in answer.text
    assert "Sign out" not in answer.text


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/campaigns/1/nope", "/nope", "/administrator"])
async def test_other_unknown_paths_stay_the_apis_json(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.json() == {"code": "not_found", "detail": "Not Found"}
