"""HTTP plumbing of the pendant's web server: bounded JSON bodies, Host and Origin checks, the session, errors.

Every refusal is a ``PendantError`` that becomes a JSON ``{"error": message}`` with its status. A
request body is never read past its limit (413), must be a JSON object (400) with exactly the
fields the endpoint takes (400 naming the missing or unknown ones). The Host header must name
this server (a DNS-rebinding page cannot reach it), and an ``Origin``, when a browser sends one,
must be this server too; login and first-admin refuse a request whose Origin is another site.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from robostral.pendant.access.auth import CSRF_HEADER, SESSION_COOKIE, Auth, Session, check_csrf
from robostral.pendant.access.roles import Permission, require
from robostral.pendant.errors import Forbidden, PendantError, RateLimited, TooLarge, Unauthorized
from robostral.pendant.json_input import check_fields, parse_json

MAX_BODY = 64 * 1024  # bytes of an ordinary JSON request
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Site:
    """Which Host and Origin values name this server: bound to ``host``:``port``, and served over TLS (``tls``)
    also by its certificate's ``names`` (host names and addresses), which browsers check it against."""

    def __init__(self, host: str, port: int, names: Iterable[str] = (), tls: bool = False) -> None:
        self.any_host = host in ANY_ADDRESS
        names = {*LOCAL_NAMES, *((f"[{name}]" if ":" in name else name).lower() for name in (host, *names))}
        default_port = 443 if tls else 80  # browsers leave it out of the Host header
        self.hosts = {f"{name}:{port}" for name in names} | (names if port == default_port else set())

    def check(self, connection: HTTPConnection, *, origin_required: bool = False) -> None:
        """Forbidden for a foreign Host, or a foreign (or, if ``origin_required``, missing) Origin."""
        host = connection.headers.get("host", "")
        if not self.any_host and host.lower() not in self.hosts:
            raise Forbidden(f"this pendant does not answer to the host {host!r:.80}")
        origin = connection.headers.get("origin")
        if origin is None:
            if origin_required:
                raise Forbidden("the request has no Origin header: use the pendant's page")
            return
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            raise Forbidden(f"requests from {origin!r:.80} are refused: use the pendant's own page")


async def read_json(request: Request, required: Iterable[str] = (), optional: Iterable[str] = (),
                    limit: int = MAX_BODY) -> dict:
    """The request's JSON object with exactly the ``required`` fields and some of the ``optional`` ones."""
    body = await read_body(request, limit)
    if not body:
        body = b"{}"
    return check_fields(parse_json(body, "the request body"), "the request body", required, optional)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (TooLarge) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(f"the request body is over its limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is over its limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def session_for(connection: HTTPConnection, auth: Auth, site: Site, permission: Permission) -> Session:
    """The caller's session, holding ``permission``; a state-changing request must carry the CSRF header.

    401 when not logged in, 403 for a foreign Host or Origin, a missing or wrong CSRF token or a missing role.
    """
    site.check(connection)
    session = await run_in_threadpool(auth.session_for, connection.cookies.get(SESSION_COOKIE))
    if isinstance(connection, Request) and connection.method not in SAFE_METHODS:
        check_csrf(session, connection.headers.get(CSRF_HEADER))
    require(session.user.role, permission)
    return session


def session_if_any(request: Request, auth: Auth) -> Session | None:
    """The caller's session if it has a live one and sent its CSRF token; None otherwise (never refused).

    For the e-stop, which anyone may press: a request without both is treated as anonymous, so a
    forged one cannot act (or be recorded) in a user's name. Blocking but read-only: run it in a thread.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        session = auth.session_for(token, refresh=False)
        check_csrf(session, request.headers.get(CSRF_HEADER))
    except (Unauthorized, Forbidden):
        return None
    return session


def is_secure(connection: HTTPConnection) -> bool:
    """Whether the request came over TLS: served so, or through a local proxy that says so (X-Forwarded-Proto)."""
    return connection.url.scheme in ("https", "wss")


def client_address(connection: HTTPConnection) -> str:
    """The requester's address (the peer of the TCP connection), as login limits and tallies key it."""
    return connection.client.host if connection.client else "unknown"


def error_response(request: HTTPConnection, error: PendantError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)

