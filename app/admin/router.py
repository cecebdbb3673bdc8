"""Where the console's pages, static files and error pages are attached to the application."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from app.admin.pages import campaigns, checkouts, codes, customers, dashboard, reports, sign_in, webhooks
from app.admin.sessions import COOKIE_PATH, ConsoleRefusal, SignInRequired, forget_session, sign_in_url
from app.admin.templating import PageNotFound, render_error

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="admin-static")
    for page in (sign_in, dashboard, campaigns, codes, customers, checkouts, reports, webhooks):
        app.include_router(page.router, prefix="/admin", include_in_schema=False)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(ConsoleRefusal, _refused)
    app.add_exception_handler(PageNotFound, _not_found)
    app.add_exception_handler(404, _no_such_path)


async def _to_sign_in(request: Request, _exc: Exception) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = sign_in_url(path if request.method == "GET" else "/admin")
    response: Response
    if request.headers.get("hx-request"):
        # htmx swaps what it is given: tell it to leave the page for the sign-in form instead.
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    forget_session(response)
    return response


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleRefusal)
    return render_error(request, 403, exc.title, exc.detail)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageNotFound)
    return render_error(request, 404, "Not found", f"No {exc.what} has this id.")


async def _no_such_path(request: Request, exc: Exception) -> Response:
    """A path no route answers: the console's page under /admin, the API's JSON everywhere else.

    Starlette asks a handler for the status code before one for the exception's class, so every 404
    the router (or the static files) raises comes here first; the rest go on to the handler the app
    installed for HTTPException (app.core.http.errors), looked up now so the order of installation does not
    matter."""
    path = request.url.path
    if path == COOKIE_PATH or path.startswith(COOKIE_PATH + "/"):
        return render_error(request, 404, "Not found", "The console has no page at this address.")
    api_handler = request.app.exception_handlers[HTTPException]
    response: Response = await api_handler(request, exc)
    return response
