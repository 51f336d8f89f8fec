"""The Policies screen: the bundles on offer, and deploying one of them."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant import policies
from robostral.pendant.access.audit import Action
from robostral.pendant.access.roles import Permission
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import read_json


class PolicyRoutes:
    def __init__(self, context: AppContext, policies_dir: str | Path) -> None:
        self.context, self.policies_dir = context, Path(policies_dir)

    async def policies(self, request: Request) -> Response:
        await self.context.session(request, Permission.VIEW)
        bundles = await run_in_threadpool(policies.bundles, self.policies_dir)
        return JSONResponse({"bundles": bundles, "current": self.context.cell.snapshot()["policy"].get("bundle", "")})

    async def choose_policy(self, request: Request) -> Response:
        context = self.context
        session = await context.session(request, Permission.CHOOSE_POLICY)
        name = (await read_json(request, ("name",)))["name"]
        path = await run_in_threadpool(policies.deployable, self.policies_dir, name)
        context.check_no_program()
        state = await run_in_threadpool(context.cell.switch_policy, str(path))
        await run_in_threadpool(context.audit, session, Action.POLICY_CHANGED, {"name": name, "bundle": str(path)})
        return JSONResponse({"name": name, "state": state})


def routes(context: AppContext, policies_dir: str | Path) -> list[Route]:
    """The routes, offering the bundles under ``policies_dir``."""
    screen = PolicyRoutes(context, policies_dir)
    return [
        Route("/api/policies", screen.policies, methods=["GET"]),
        Route("/api/policies/choose", screen.choose_policy, methods=["POST"]),
    ]
