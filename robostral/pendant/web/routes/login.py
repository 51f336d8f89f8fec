"""The Setup and Login screens: the first admin, logging in and out, and who the caller is."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.auth import SESSION_COOKIE, Session, cookie_params
from robostral.pendant.access.roles import JOG_SPEED_LIMIT, Permission, allowed
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import client_address, is_secure, read_json
from robostral.pendant.web.routes.users import user_json


class LoginRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def setup_state(self, request: Request) -> Response:
        self.context.site.check(request)
        needs = await run_in_threadpool(self.context.pendant.auth.needs_first_admin)
        return JSONResponse({"needs_first_admin": needs})

    async def setup(self, request: Request) -> Response:
        self.context.site.check(request, origin_required=True)
        body = await read_json(request, ("name", "password"))
        await run_in_threadpool(self.context.pendant.auth.create_first_admin, body["name"], body["password"])
        return await self._login(request, body, status=201)

    async def login(self, request: Request) -> Response:
        self.context.site.check(request, origin_required=True)
        return await self._login(request, await read_json(request, ("name", "password")))

    async def _login(self, request: Request, body: dict, status: int = 200) -> Response:
        session = await run_in_threadpool(self.context.pendant.auth.login, body["name"], body["password"],
                                          client_address(request))
        response = JSONResponse(_session_json(session), status_code=status)
        response.set_cookie(**cookie_params(session, secure=is_secure(request)))
        return response

    async def logout(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.VIEW)
        await run_in_threadpool(self.context.pendant.auth.logout, session)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=is_secure(request), httponly=True, samesite="strict")
        return response

    async def whoami(self, request: Request) -> Response:
        return JSONResponse(_session_json(await self.context.session(request, Permission.VIEW)))


def routes(context: AppContext) -> list[Route]:
    screen = LoginRoutes(context)
    return [
        Route("/api/setup", screen.setup_state, methods=["GET"]),
        Route("/api/setup", screen.setup, methods=["POST"]),
        Route("/api/login", screen.login, methods=["POST"]),
        Route("/api/logout", screen.logout, methods=["POST"]),
        Route("/api/session", screen.whoami, methods=["GET"]),
    ]


def _session_json(session: Session) -> dict:
    role = session.user.role
    return {"user": user_json(session.user), "csrf_token": session.csrf_token,
            "permissions": sorted(p.name.lower() for p in Permission if allowed(role, p)),
            "jog_speed_limit": JOG_SPEED_LIMIT[role]}
