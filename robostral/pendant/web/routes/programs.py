"""The Program screen: programs and their versions, approval, export and import, and running them.

A run is started here; its pause, resume, step, stop and skill confirmation (on the Run screen too)
go to the program runner.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.roles import Permission
from robostral.pendant.errors import BadRequest, NotFound
from robostral.pendant.programs.document import MAX_DOCUMENT_BYTES, parse_program, program_to_json
from robostral.pendant.programs.library import ProgramInfo
from robostral.pendant.web.context import JOG_OWNER, AppContext
from robostral.pendant.web.http import read_body, read_json


class ProgramRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def programs(self, request: Request) -> Response:
        library = self.context.pendant.programs
        if request.method == "GET":
            await self.context.session(request, Permission.VIEW)
            return JSONResponse({"programs": [_info_json(i) for i in await run_in_threadpool(library.programs)]})
        session = await self.context.session(request, Permission.EDIT_PROGRAM)
        body = await read_json(request, ("name", "steps"), ("base_version",))
        program = parse_program({"name": body["name"], "steps": body["steps"]})
        base = body.get("base_version")
        if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
            raise BadRequest(f"base_version must be a whole number >= 0; got {base!r:.20}")
        info = await run_in_threadpool(lambda: library.save(session.user, program, base_version=base))
        return JSONResponse(_info_json(info), status_code=201)

    async def program(self, request: Request) -> Response:
        library, name = self.context.pendant.programs, request.path_params["name"]
        if request.method == "DELETE":
            session = await self.context.session(request, Permission.EDIT_PROGRAM)
            await run_in_threadpool(library.delete, session.user, name)
            return Response(status_code=204)
        await self.context.session(request, Permission.VIEW)
        loaded = await run_in_threadpool(library.load, name, _version(request))
        return JSONResponse({**json.loads(program_to_json(loaded.document)), "version": loaded.version,
                             "approved": loaded.approved, "created_by": loaded.created_by,
                             "created_at": loaded.created_at})

    async def approve(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.APPROVE_PROGRAM)
        version = (await read_json(request, ("version",)))["version"]
        check = (await run_in_threadpool(self.context.cell.planner)).check_pose
        info = await run_in_threadpool(lambda: self.context.pendant.programs.approve(
            session.user, request.path_params["name"], version, check=check))
        return JSONResponse(_info_json(info))

    async def export(self, request: Request) -> Response:
        await self.context.session(request, Permission.VIEW)
        name = request.path_params["name"]
        text = await run_in_threadpool(self.context.pendant.programs.export_json, name, _version(request))
        return Response(text, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})

    async def import_program(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.EDIT_PROGRAM)
        text = await read_body(request, MAX_DOCUMENT_BYTES)
        check = (await run_in_threadpool(self.context.cell.planner)).check_pose
        library = self.context.pendant.programs
        info = await run_in_threadpool(lambda: library.import_json(session.user, text, check=check))
        return JSONResponse(_info_json(info), status_code=201)

    async def run(self, request: Request) -> Response:
        context = self.context
        session = await context.session(request, Permission.RUN_PROGRAM)
        mode = (await read_json(request, optional=("mode",))).get("mode", "run")
        if mode not in ("run", "step"):
            raise BadRequest(f"mode must be 'run' or 'step'; got {mode!r:.40}")
        version = await run_in_threadpool(context.pendant.programs.runnable, session.user,
                                          request.path_params["name"])
        context.check_free_to_move()
        context.cell.stop_motion("a program starts", JOG_OWNER)
        status = await run_in_threadpool(context.runner.start, session.user, version, mode == "step")
        return JSONResponse(status, status_code=202)

    async def run_control(self, request: Request) -> Response:
        action = request.path_params["action"]
        permission = Permission.RUN_SKILL if action == "confirm" else Permission.RUN_PROGRAM
        session = await self.context.session(request, permission)
        await read_json(request)
        runner = self.context.runner
        controls = {"pause": runner.pause, "resume": runner.resume, "step": lambda: runner.resume(single_step=True),
                    "stop": lambda: runner.stop(session.user), "confirm": lambda: runner.confirm(session.user)}
        if action not in controls:
            raise NotFound(f"no run control {action!r:.40}: use {', '.join(controls)}")
        return JSONResponse(await run_in_threadpool(controls[action]))

    async def run_status(self, request: Request) -> Response:
        await self.context.session(request, Permission.VIEW)
        return JSONResponse(self.context.runner.status())


def routes(context: AppContext) -> list[Route]:
    screen = ProgramRoutes(context)
    return [
        Route("/api/programs", screen.programs, methods=["GET", "POST"]),
        Route("/api/programs/import", screen.import_program, methods=["POST"]),  # before {name}, which it matches
        Route("/api/programs/{name}", screen.program, methods=["GET", "DELETE"]),
        Route("/api/programs/{name}/approve", screen.approve, methods=["POST"]),
        Route("/api/programs/{name}/export", screen.export, methods=["GET"]),
        Route("/api/programs/{name}/run", screen.run, methods=["POST"]),
        Route("/api/run", screen.run_status, methods=["GET"]),
        Route("/api/run/{action}", screen.run_control, methods=["POST"]),
    ]


def _info_json(info: ProgramInfo) -> dict:
    return {"name": info.name, "current_version": info.current_version, "approved_version": info.approved_version,
            "updated_by": info.updated_by, "updated_at": info.updated_at}


def _version(request: Request) -> int | None:
    text = request.query_params.get("version")
    if text is None:
        return None
    if not text.isdigit():
        raise BadRequest(f"version must be a whole number; got {text!r:.20}")
    return int(text)
