"""The Jog screen: the speed override, step jogs and their stop, and teaching waypoints.

Held jogging goes over the live websocket (``web.live``): it needs the deadman heartbeat.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from robostral.pendant.access.audit import Action
from robostral.pendant.access.auth import Session
from robostral.pendant.access.roles import JOG_SPEED_LIMIT, Permission
from robostral.pendant.errors import BadRequest
from robostral.pendant.motion.ik import quaternion
from robostral.pendant.motion.jog import JogCommand, parse_step
from robostral.pendant.motion.streaming import PlannedMotion
from robostral.pendant.programs.document import Waypoint
from robostral.pendant.web.context import JOG_OWNER, AppContext
from robostral.pendant.web.http import read_json


class JogRoutes:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def speed(self, request: Request) -> Response:
        await self.context.session(request, Permission.JOG)
        percent = (await read_json(request, ("percent",)))["percent"]
        if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not 1 <= percent <= 100:
            raise BadRequest(f"percent must be a number from 1 to 100; got {percent!r:.40}")
        await run_in_threadpool(self.context.cell.set_speed_override, percent / 100.0)
        return JSONResponse({"speed_override": percent / 100.0})

    async def jog(self, request: Request) -> Response:
        """One jog step."""
        session = await self.context.session(request, Permission.JOG)
        body = await read_json(request, ("mode", "axis", "direction", "step"), ("frame",))
        motion = await run_in_threadpool(self.plan_step_jog, session, body)
        await run_in_threadpool(self.context.audit, session, Action.JOG, {**body, "held": False})
        return JSONResponse({"duration": motion.path.duration})

    def plan_step_jog(self, session: Session, body: dict) -> PlannedMotion:
        cell = self.context.cell
        self.context.check_free_to_move()
        planner = cell.planner()
        command, step = JogCommand.parse(body, len(planner.limits.arm_names)), parse_step(body["step"])
        cell.check_can_move()
        cell.set_manual_mode(True)
        q, v = cell.joint_state()
        motion = planner.step_jog(q, v, command, step, JOG_SPEED_LIMIT[session.user.role], cell.speed_override())
        cell.start_motion(motion, JOG_OWNER)
        return motion

    async def jog_stop(self, request: Request) -> Response:
        await self.context.session(request, Permission.JOG)
        await read_json(request)
        await run_in_threadpool(self.context.cell.stop_motion, "stopped from the pendant", JOG_OWNER)
        return JSONResponse({"stopped": True})

    async def waypoints(self, request: Request) -> Response:
        if request.method == "GET":
            await self.context.session(request, Permission.VIEW)
            found = await run_in_threadpool(self.context.pendant.programs.waypoints)
            return JSONResponse({"waypoints": [_waypoint_json(w) for w in found]})
        session = await self.context.session(request, Permission.TEACH)
        body = await read_json(request, ("name",), ("replace", "joints"))
        saved = await run_in_threadpool(self.teach, session, body)
        return JSONResponse(_waypoint_json(saved), status_code=201)

    def teach(self, session: Session, body: dict) -> Waypoint:
        """Save the given joints, or the current pose, as a waypoint (refused where the safety checks refuse it)."""
        cell = self.context.cell
        planner = cell.planner()
        joints = body.get("joints")
        if joints is None:
            q, _ = cell.joint_state()
            joints = dict(zip(planner.limits.arm_names, q[: planner.arm].tolist()))
        waypoint = Waypoint(body["name"], joints)
        position, rotation = planner.frame.pose(planner.arm_positions(waypoint))
        waypoint = Waypoint(waypoint.name, waypoint.joints, tuple(position.tolist() + quaternion(rotation).tolist()))
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise BadRequest("replace must be true or false")
        return self.context.pendant.programs.save_waypoint(session.user, waypoint, check=planner.check_pose,
                                                           replace=replace)


def routes(context: AppContext) -> list[Route]:
    screen = JogRoutes(context)
    return [
        Route("/api/speed", screen.speed, methods=["POST"]),
        Route("/api/jog", screen.jog, methods=["POST"]),
        Route("/api/jog/stop", screen.jog_stop, methods=["POST"]),
        Route("/api/waypoints", screen.waypoints, methods=["GET", "POST"]),
    ]


def _waypoint_json(waypoint: Waypoint) -> dict:
    return {"name": waypoint.name, **waypoint.to_dict(), "created_by": waypoint.created_by,
            "created_at": waypoint.created_at}
