"""The Users screen: an admin lists, adds and changes users (role, disabled, password)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.auth import User
from robostral.pendant.access.roles import Permission, Role
from robostral.pendant.errors import BadRequest
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import read_json


class UserRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def users(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.MANAGE_USERS)
        auth = self.context.pendant.auth
        if request.method == "GET":
            return JSONResponse({"users": [user_json(u) for u in await run_in_threadpool(auth.users, session.user)]})
        body = await read_json(request, ("name", "password", "role"))
        user = await run_in_threadpool(auth.create_user, session.user, body["name"], body["password"],
                                       Role.parse(body["role"]))
        return JSONResponse(user_json(user), status_code=201)

    async def user(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.MANAGE_USERS)
        body = await read_json(request, optional=("role", "disabled", "password"))
        if len(body) != 1:
            raise BadRequest("send exactly one of 'role', 'disabled' or 'password'")
        auth, name = self.context.pendant.auth, request.path_params["name"]
        if "role" in body:
            user = await run_in_threadpool(auth.set_role, session.user, name, Role.parse(body["role"]))
        elif "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise BadRequest("disabled must be true or false")
            user = await run_in_threadpool(auth.set_disabled, session.user, name, body["disabled"])
        else:
            user = await run_in_threadpool(auth.reset_password, session.user, name, body["password"])
        return JSONResponse(user_json(user))


def routes(context: AppContext) -> list[Route]:
    screen = UserRoutes(context)
    return [
        Route("/api/users", screen.users, methods=["GET", "POST"]),
        Route("/api/users/{name}", screen.user, methods=["PATCH"]),
    ]


def user_json(user: User) -> dict:
    return {"name": user.name, "role": user.role.label, "disabled": user.disabled, "created": user.created}
