"""The teach pendant's web app (Starlette): the JSON API under /api, the live websocket /ws, the page.

Each endpoint names the permission it needs (``roles.REQUIRED_ROLE``): anonymous requests get 401,
a missing role 403, a state-changing request without the session's CSRF token 403. The one
exception is the e-stop (``routes.run``), which anyone who reaches the page may press. Blocking
work (argon2, SQLite, ROS service calls) runs in the thread pool. Motions and e-stops are audited;
the program runner and the cell do the work. The endpoints live in ``routes``, one module per screen.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from robostral.pendant.demonstrations import Demonstrations
from robostral.pendant.errors import NotFound, PendantError
from robostral.pendant.motion.runner import ProgramRunner
from robostral.pendant.service import Pendant
from robostral.pendant.web.cell import PendantCell
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import Site, error_response, is_secure
from robostral.pendant.web.live import Live
from robostral.pendant.web.routes import audit, demonstrate, jog, login, policies, programs, run, users

STATIC = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Over TLS: the browser goes straight to HTTPS for this host name for a year (ignored for IP addresses).
HSTS = {"Strict-Transport-Security": "max-age=31536000"}


def create_app(pendant: Pendant, cell: PendantCell, runner: ProgramRunner, site: Site,
               policies_dir: str | Path, static: Path = STATIC,
               demonstrations: Demonstrations | None = None) -> Starlette:
    """The app on one pendant database, cell (the ROS bridge) and runner; bundles offered from ``policies_dir``;
    the Demonstrate screen's API where ``demonstrations`` is given."""
    context = AppContext(pendant, cell, runner, site)
    routes = [
        *login.routes(context),
        *users.routes(context),
        *run.routes(context),
        *jog.routes(context),
        *programs.routes(context),
        *policies.routes(context, policies_dir),
        *audit.routes(context),
        *(demonstrate.routes(context, demonstrations) if demonstrations is not None else ()),
        Route("/api/{rest:path}", _not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        WebSocketRoute("/ws", Live(context).connect),
        Mount("/", StaticFiles(directory=static, html=True)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=_headers)],
                     exception_handlers={PendantError: error_response})


async def _not_found(request: Request) -> Response:
    raise NotFound(f"no API endpoint {request.method} {request.url.path[:80]}")


async def _headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if is_secure(request):
        response.headers.update(HSTS)
    if request.url.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response
