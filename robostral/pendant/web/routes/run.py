"""The Run screen: the cell's state, the e-stop and its reset, and the instruction the policy follows.

The e-stop is the one endpoint open to all: anyone who reaches the page may stop the arm, logged
in or not, and is never refused for want of a session, a CSRF token or a rate limit (resetting it
needs an engineer). It runs on worker threads of its own, so no queue of other work delays it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.audit import Action
from robostral.pendant.access.roles import Permission
from robostral.pendant.errors import BadRequest
from robostral.pendant.programs.document import parse_instruction
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import client_address, read_json, session_if_any

ESTOP_THREADS = 4  # e-stops' own worker threads: a flood of logins (argon2) in the shared pool cannot queue them
T = TypeVar("T")


class RunRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self._estop_threads: anyio.CapacityLimiter | None = None  # made in the event loop, on the first press

    async def state(self, request: Request) -> Response:
        await self.context.session(request, Permission.VIEW)
        return Response(self.context.state_json(), media_type="application/json")

    async def estop(self, request: Request) -> Response:
        """Stop the arm: anyone may, from the pendant's own page or a tool (the body is ignored).

        A logged-in press (with its CSRF token) is audited under its user; any other press is tallied
        per client address, so a flood of them adds a row an hour, not a row a press.
        """
        context = self.context
        context.site.check(request)  # a foreign Host or Origin: another site must not stop the cell either
        session = await self._estop_thread(session_if_any, request, context.pendant.auth)
        client = client_address(request)
        who = session.user.name if session else f"an anonymous press from {client}"
        try:
            await self._estop_thread(context.runner.halt, f"e-stop by {who}")
            message = await self._estop_thread(context.cell.estop)
        finally:
            if session:
                await self._estop_thread(context.audit, session, Action.ESTOP, {})
            else:
                await self._estop_thread(context.pendant.audit.tally, Action.ESTOP,
                                         {"client": client, "anonymous": True})
        return JSONResponse({"message": message})

    async def _estop_thread(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread of the e-stop's own ESTOP_THREADS, not the shared pool's."""
        if self._estop_threads is None:
            self._estop_threads = anyio.CapacityLimiter(ESTOP_THREADS)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._estop_threads)

    async def policy_input(self, request: Request) -> Response:
        """What the policy sees of the camera, to line a real camera up with the training viewpoint."""
        await self.context.session(request, Permission.VIEW)
        png = await run_in_threadpool(self.context.cell.policy_input_png)
        if png is None:
            return JSONResponse({"error": "the policy node has not shown its camera input yet"}, status_code=404)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def reset(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.RESET_ESTOP)
        body = await read_json(request, ("confirm",))
        if body["confirm"] is not True:
            raise BadRequest("a reset needs 'confirm': true (check the cell is clear first)")
        message = await run_in_threadpool(self.context.cell.reset)
        await run_in_threadpool(self.context.audit, session, Action.RESET, {"answer": message})
        return JSONResponse({"message": message})

    async def instruction(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.RUN_SKILL)
        text = ""
        if request.method == "POST":
            text = parse_instruction((await read_json(request, ("text",)))["text"])
            self.context.check_no_program()
        await run_in_threadpool(self.context.cell.publish_instruction, text)
        await run_in_threadpool(self.context.audit, session, Action.SKILL, {"instruction": text, "cleared": not text})
        return JSONResponse({"instruction": text})


def routes(context: AppContext) -> list[Route]:
    screen = RunRoutes(context)
    return [
        Route("/api/state", screen.state, methods=["GET"]),
        Route("/api/camera/policy-input", screen.policy_input, methods=["GET"]),
        Route("/api/estop", screen.estop, methods=["POST"]),
        Route("/api/reset", screen.reset, methods=["POST"]),
        Route("/api/instruction", screen.instruction, methods=["POST", "DELETE"]),
    ]
