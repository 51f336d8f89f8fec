"""The Demonstrate screen: record a demonstration (instruction, Record, teleoperate, Stop, Keep or Discard),
list the kept ones with their first and last frames, review and delete them; and the gripper command.

Every endpoint but the gripper's needs ``Permission.DEMONSTRATE`` (engineers): an operator gets 403.
Teleoperating is the Jog screen's: held jogs over the live websocket (``web.live``), step jogs, and
``POST /api/gripper``, which plans the gripper's motion with the same checks as a program's gripper
step and streams it through the supervisor. The work is ``pendant.demonstrations``'.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.audit import Action
from robostral.pendant.access.auth import Session
from robostral.pendant.access.roles import Permission
from robostral.pendant.demonstrations import Demonstrations
from robostral.pendant.errors import BadRequest, NotFound
from robostral.pendant.motion.streaming import PlannedMotion
from robostral.pendant.web.context import JOG_OWNER, AppContext
from robostral.pendant.web.http import read_json

GRIPPER_COMMANDS = ("open", "close")
CONTROLS = ("stop", "keep", "discard")


class DemonstrateRoutes:
    def __init__(self, context: AppContext, demonstrations: Demonstrations) -> None:
        self.context, self.demonstrations = context, demonstrations

    async def listing(self, request: Request) -> Response:
        """The take's status and the dataset's episodes."""
        await self.context.session(request, Permission.DEMONSTRATE)
        demonstrations = self.demonstrations
        return JSONResponse({"status": await run_in_threadpool(demonstrations.status),
                             **await run_in_threadpool(demonstrations.episodes)})

    async def status(self, request: Request) -> Response:
        await self.context.session(request, Permission.DEMONSTRATE)
        return JSONResponse(await run_in_threadpool(self.demonstrations.status))

    async def record(self, request: Request) -> Response:
        session = await self.context.session(request, Permission.DEMONSTRATE)
        instruction = (await read_json(request, ("instruction",)))["instruction"]

        def record() -> dict:
            self.context.check_free_to_move()  # no program, no policy commanding the arm
            return self.demonstrations.record(session.user, instruction)

        return JSONResponse(await run_in_threadpool(record), status_code=201)

    async def control(self, request: Request) -> Response:
        """Stop, keep or discard the take."""
        session = await self.context.session(request, Permission.DEMONSTRATE)
        await read_json(request)
        action, demonstrations = request.path_params["action"], self.demonstrations
        if action not in CONTROLS:
            raise NotFound(f"no demonstration control {action!r:.40}: use {', '.join(CONTROLS)}")
        if action == "keep":
            return JSONResponse(await run_in_threadpool(demonstrations.keep, session.user), status_code=201)
        if action == "stop":
            return JSONResponse(await run_in_threadpool(demonstrations.stop, session.user))
        await run_in_threadpool(demonstrations.discard, session.user)
        return JSONResponse(await run_in_threadpool(demonstrations.status))

    async def frame(self, request: Request) -> Response:
        """One camera frame of a kept episode as PNG (``?camera=front|wrist``; a negative frame counts from the end)."""
        await self.context.session(request, Permission.DEMONSTRATE)
        frame = _whole(request.path_params["frame"], "frame")
        camera = request.query_params.get("camera", "front")
        png = await run_in_threadpool(self.demonstrations.frame, request.path_params["index"], frame, camera)
        return Response(png, media_type="image/png")

    async def delete(self, request: Request) -> Response:
        """Delete a kept episode; ``?seed=`` must be its seed (the list the page shows may be out of date)."""
        session = await self.context.session(request, Permission.DEMONSTRATE)
        seed = _whole(request.query_params.get("seed", ""), "seed")
        await run_in_threadpool(self.demonstrations.delete, session.user, request.path_params["index"], seed)
        return Response(status_code=204)

    async def gripper(self, request: Request) -> Response:
        """Open or close the gripper: a planned motion, checked as a program's gripper step, in manual mode."""
        session = await self.context.session(request, Permission.TEACH)
        command = (await read_json(request, ("command",)))["command"]
        if command not in GRIPPER_COMMANDS:
            raise BadRequest(f"command must be 'open' or 'close'; got {command!r:.40}")
        motion = await run_in_threadpool(self.move_gripper, session, command)
        return JSONResponse({"duration": motion.path.duration})

    def move_gripper(self, session: Session, command: str) -> PlannedMotion:
        context, cell = self.context, self.context.cell
        context.check_free_to_move()
        planner = cell.planner()
        cell.check_can_move()
        cell.set_manual_mode(True)
        q, v = cell.joint_state()
        motion = planner.gripper(q, v, command, cell.speed_override())
        cell.start_motion(motion, JOG_OWNER)  # a step jog's owner: the Jog screen's stop stops it too
        context.audit(session, Action.GRIPPER, {"command": command})
        return motion


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{what} must be a whole number; got {text!r:.20}") from None


def routes(context: AppContext, demonstrations: Demonstrations) -> list[Route]:
    screen = DemonstrateRoutes(context, demonstrations)
    return [
        Route("/api/demonstrations", screen.listing, methods=["GET"]),
        Route("/api/demonstrations/status", screen.status, methods=["GET"]),
        Route("/api/demonstrations/record", screen.record, methods=["POST"]),
        Route("/api/demonstrations/{action:str}", screen.control, methods=["POST"]),
        Route("/api/demonstrations/{index:int}", screen.delete, methods=["DELETE"]),
        Route("/api/demonstrations/{index:int}/frames/{frame}", screen.frame, methods=["GET"]),
        Route("/api/gripper", screen.gripper, methods=["POST"]),
    ]
