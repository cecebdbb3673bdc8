"""The whole scope matrix: every route of the app by every scope, checked against docs/api.md.

The routes come from the app itself (every route in the OpenAPI schema, and /metrics), so a new
route cannot be left out. The scopes each route should allow come from the "Scope" column of the
route table in docs/api.md, never from the route's own `access(...)`: the test compares what the
code does with what the documentation promises. `admin` may call everything; `none` needs no key.

Each route is called with a minimal request (path parameters 1, a `{}` body for POST, PUT and
PATCH) by a key holding one scope only: a scope the route does not allow must get 403
`insufficient_scope`; one it allows must get past the guard (anything but 401 and 403, so a 404
for the missing campaign or a 422 for the empty body is fine).
"""

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import Scope
from tests.conftest import Database, make_settings
from tests.factories import create_api_key

API_DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
TABLE_HEADER = "| Method and path | Scope |"
NO_KEY = "none"
BODY_METHODS = {"POST", "PUT", "PATCH"}
PARAMETER = re.compile(r"\{[^}/]*\}")

Endpoint = tuple[str, str]  # (method, path with every {parameter} as "{}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the app's template, e.g. /api/v1/campaigns/{campaign_id}

    @property
    def endpoint(self) -> Endpoint:
        return self.method, shape(self.path)

    @property
    def url(self) -> str:
        return PARAMETER.sub("1", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def shape(path: str) -> str:
    """`/api/v1/customers/{id}` and `/api/v1/customers/{customer_id}` are the same route."""
    return PARAMETER.sub("{}", path)


def app_routes(app: FastAPI) -> list[Route]:
    """Every method of every route in the OpenAPI schema, and /metrics."""
    routes = set()
    for context in iter_route_contexts(app.routes):
        path = context.path_format
        if path and (getattr(context, "include_in_schema", False) or path == "/metrics"):
            routes.update(Route(method, path) for method in context.methods or ())
    return sorted(routes, key=lambda route: (route.path, route.method))


def documented_scopes() -> dict[Endpoint, frozenset[str]]:
    """The route table of docs/api.md: (method, path shape) → the scopes it names, or {"none"}."""
    lines = API_DOCS.read_text(encoding="utf-8").splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith(TABLE_HEADER)]
    assert len(starts) == 1, f"docs/api.md should hold one route table starting {TABLE_HEADER!r}"
    header = [cell.strip() for cell in lines[starts[0]].strip().strip("|").split("|")]
    route_column, scope_column = header.index("Method and path"), header.index("Scope")
    known = {scope.value for scope in Scope} | {NO_KEY}
    table: dict[Endpoint, frozenset[str]] = {}
    for line in lines[starts[0] + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        method, _, path = cells[route_column].strip("`").partition(" ")
        scopes = frozenset(scope.strip().strip("`") for scope in cells[scope_column].split(","))
        assert scopes <= known, f"docs/api.md: {cells[route_column]} names unknown scopes {sorted(scopes - known)}"
        assert NO_KEY not in scopes or scopes == {NO_KEY}, f"docs/api.md: {cells[route_column]} mixes none and scopes"
        endpoint = (method.upper(), shape(path.strip()))
        assert endpoint not in table, f"docs/api.md documents {cells[route_column]} twice"
        table[endpoint] = scopes
    assert table, "docs/api.md: the route table is empty"
    return table


def allows(documented: frozenset[str], scope: Scope) -> bool:
    return documented == {NO_KEY} or scope == Scope.ADMIN or scope.value in documented


def undocumented(routes: list[Route], table: dict[Endpoint, frozenset[str]]) -> list[str]:
    return [f"document {route} in docs/api.md" for route in routes if route.endpoint not in table]


async def call(client: httpx.AsyncClient, route: Route, headers: dict[str, str]) -> httpx.Response:
    body = {"json": {}} if route.method in BODY_METHODS else {}
    return await client.request(route.method, route.url, headers=headers, **body)


def test_the_docs_route_table_and_the_app_name_the_same_routes(app: FastAPI) -> None:
    routes = app_routes(app)
    table = documented_scopes()
    shapes = [route.endpoint for route in routes]
    assert len(shapes) == len(set(shapes)), "two routes of the app differ only in their parameters' names"
    wrong = undocumented(routes, table) + [
        f"docs/api.md documents {method} {path}, which the app does not have"
        for method, path in table
        if (method, path) not in set(shapes)
    ]
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("scope", list(Scope), ids=str)
async def test_a_key_reaches_exactly_the_routes_its_scope_allows(
    client: httpx.AsyncClient, engine: AsyncEngine, app: FastAPI, database: Database, scope: Scope
) -> None:
    secret = make_settings(database).api_key_secret.get_secret_value()
    key, _ = await create_api_key(engine, secret, scope, name=f"only {scope}")
    headers = {"Authorization": f"Bearer {key}"}
    routes = app_routes(app)
    table = documented_scopes()
    wrong = undocumented(routes, table)
    for route in routes:
        if route.endpoint not in table:
            continue
        response = await call(client, route, headers)
        if allows(table[route.endpoint], scope):
            if response.status_code in (401, 403):
                wrong.append(f"{route}: a `{scope}` key should pass, got {response.status_code} {response.text}")
        elif response.status_code != 403 or response.json().get("code") != "insufficient_scope":
            wrong.append(f"{route}: a `{scope}` key should get 403 insufficient_scope, got {response.status_code}")
    assert wrong == [], "\n".join(wrong)


async def test_without_a_key_every_keyed_route_is_401_once_a_key_exists(
    client: httpx.AsyncClient, engine: AsyncEngine, app: FastAPI, database: Database
) -> None:
    secret = make_settings(database).api_key_secret.get_secret_value()
    await create_api_key(engine, secret, Scope.METRICS)
    routes = app_routes(app)
    table = documented_scopes()
    wrong = undocumented(routes, table)
    for route in routes:
        if route.endpoint not in table and not route.path.startswith("/api/v1/"):
            continue
        open_route = table.get(route.endpoint) == {NO_KEY} and not route.path.startswith("/api/v1/")
        response = await call(client, route, {})
        if open_route and response.status_code in (401, 403):
            wrong.append(f"{route}: documented as needing no key, got {response.status_code}")
        elif not open_route and response.status_code != 401:
            wrong.append(f"{route}: without a key it should be 401, got {response.status_code}")
    assert wrong == [], "\n".join(wrong)
