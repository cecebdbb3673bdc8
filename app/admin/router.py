"""Where the console's pages, static files and error pages are attached to the application."""

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from app.admin.pages import campaigns, customers, dashboard, sign_in
from app.admin.sessions import ConsoleRefusal, SignInRequired, forget_session, sign_in_url
from app.admin.templating import PageNotFound, render_error

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    app.mount("/admin/static", StaticFiles(directory=STATIC), name="admin-static")
    for page in (sign_in, dashboard, campaigns, customers):
        app.include_router(page.router, prefix="/admin", include_in_schema=False)
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(ConsoleRefusal, _refused)
    app.add_exception_handler(PageNotFound, _not_found)


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
