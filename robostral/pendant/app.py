"""The teach pendant's web app (Starlette): the JSON API under /api, the live websocket /ws, the page.

Each endpoint names the permission it needs (``roles.REQUIRED_ROLE``): anonymous requests get 401,
a missing role 403, a state-changing request without the session's CSRF token 403. The one
exception is the e-stop: anyone who reaches the page may stop the arm, logged in or not, and is
never refused for want of a session, a CSRF token or a rate limit (resetting it needs an engineer).
Blocking work (argon2, SQLite, ROS service calls) runs in the thread pool. Motions and e-stops are
audited; the program runner and the ROS bridge (``cell``) do the work. ``create_app`` lists the routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from robostral.pendant import policies
from robostral.pendant.audit import Action
from robostral.pendant.auth import SESSION_COOKIE, Session, cookie_params
from robostral.pendant.errors import BadRequest, Conflict, InvalidState, NotFound, PendantError
from robostral.pendant.ik import quaternion
from robostral.pendant.jog import JogCommand, parse_step
from robostral.pendant.live import Live
from robostral.pendant.programs import (
    MAX_DOCUMENT_BYTES,
    Waypoint,
    parse_instruction,
    parse_program,
    program_to_json,
)
from robostral.pendant.roles import JOG_SPEED_LIMIT, Permission, Role, allowed
from robostral.pendant.runner import ProgramRunner
from robostral.pendant.service import Pendant
from robostral.pendant.web import (
    Site,
    client_address,
    error_response,
    read_body,
    read_json,
    session_for,
    session_if_any,
)

if TYPE_CHECKING:
    from robostral.pendant.bridge import PendantBridge

STATIC = Path(__file__).resolve().parent / "static"
ESTOP_THREADS = 4  # e-stops' own worker threads: a flood of logins (argon2) in the shared pool cannot queue them
T = TypeVar("T")
JOG_OWNER = "step jog"  # the owner of step jogs (held motions belong to their websocket)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class PendantApp:
    """The endpoints, bound to one pendant database, cell and runner."""

    def __init__(self, pendant: Pendant, cell: PendantBridge, runner: ProgramRunner, site: Site,
                 policies_dir: str | Path) -> None:
        self.pendant, self.cell, self.runner, self.site = pendant, cell, runner, site
        self.policies_dir = Path(policies_dir)
        self._estop_threads: anyio.CapacityLimiter | None = None  # made in the event loop, on the first press

    async def session(self, request: Request, permission: Permission) -> Session:
        return await session_for(request, self.pendant.auth, self.site, permission)

    def audit(self, session: Session, action: Action, detail: dict) -> None:
        self.pendant.audit.record(session.user.name, action, detail)

    # -- first run, login, users ----------------------------------------------------------------
    async def setup_state(self, request: Request) -> Response:
        self.site.check(request)
        return JSONResponse({"needs_first_admin": await run_in_threadpool(self.pendant.auth.needs_first_admin)})

    async def setup(self, request: Request) -> Response:
        self.site.check(request, origin_required=True)
        body = await read_json(request, ("name", "password"))
        await run_in_threadpool(self.pendant.auth.create_first_admin, body["name"], body["password"])
        return await self._login(request, body, status=201)

    async def login(self, request: Request) -> Response:
        self.site.check(request, origin_required=True)
        return await self._login(request, await read_json(request, ("name", "password")))

    async def _login(self, request: Request, body: dict, status: int = 200) -> Response:
        session = await run_in_threadpool(self.pendant.auth.login, body["name"], body["password"],
                                          client_address(request))
        response = JSONResponse(_session_json(session), status_code=status)
        response.set_cookie(**cookie_params(session))
        return response

    async def logout(self, request: Request) -> Response:
        session = await self.session(request, Permission.VIEW)
        await run_in_threadpool(self.pendant.auth.logout, session)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def whoami(self, request: Request) -> Response:
        return JSONResponse(_session_json(await self.session(request, Permission.VIEW)))

    async def users(self, request: Request) -> Response:
        session = await self.session(request, Permission.MANAGE_USERS)
        auth = self.pendant.auth
        if request.method == "GET":
            return JSONResponse({"users": [_user_json(u) for u in await run_in_threadpool(auth.users, session.user)]})
        body = await read_json(request, ("name", "password", "role"))
        user = await run_in_threadpool(auth.create_user, session.user, body["name"], body["password"],
                                       Role.parse(body["role"]))
        return JSONResponse(_user_json(user), status_code=201)

    async def user(self, request: Request) -> Response:
        session = await self.session(request, Permission.MANAGE_USERS)
        body = await read_json(request, optional=("role", "disabled", "password"))
        if len(body) != 1:
            raise BadRequest("send exactly one of 'role', 'disabled' or 'password'")
        auth, name = self.pendant.auth, request.path_params["name"]
        if "role" in body:
            user = await run_in_threadpool(auth.set_role, session.user, name, Role.parse(body["role"]))
        elif "disabled" in body:
            if not isinstance(body["disabled"], bool):
                raise BadRequest("disabled must be true or false")
            user = await run_in_threadpool(auth.set_disabled, session.user, name, body["disabled"])
        else:
            user = await run_in_threadpool(auth.reset_password, session.user, name, body["password"])
        return JSONResponse(_user_json(user))

    # -- the cell ---------------------------------------------------------------------------------
    async def state(self, request: Request) -> Response:
        await self.session(request, Permission.VIEW)
        return Response(self.state_json(), media_type="application/json")

    def state_json(self, **extra: object) -> str:
        """What the page shows (the cell's and the runner's state, and ``extra``) as JSON text.

        InvalidState rather than text with NaN or Infinity in it, which is not JSON: the page could not read it.
        """
        state = {**extra, **self.cell.snapshot(), "program": self.runner.status()}
        try:
            return json.dumps(state, allow_nan=False)
        except ValueError as error:
            raise InvalidState(f"the cell's state cannot be shown: {error}") from None

    async def estop(self, request: Request) -> Response:
        """Stop the arm: anyone may, from the pendant's own page or a tool (the body is ignored).

        A logged-in press (with its CSRF token) is audited under its user; any other press is tallied
        per client address, so a flood of them adds a row an hour, not a row a press.
        """
        self.site.check(request)  # a foreign Host or Origin: another site must not stop the cell either
        session, client = await self._estop_thread(session_if_any, request, self.pendant.auth), client_address(request)
        who = session.user.name if session else f"an anonymous press from {client}"
        try:
            await self._estop_thread(self.runner.halt, f"e-stop by {who}")
            message = await self._estop_thread(self.cell.estop)
        finally:
            if session:
                await self._estop_thread(self.audit, session, Action.ESTOP, {})
            else:
                await self._estop_thread(self.pendant.audit.tally, Action.ESTOP, {"client": client, "anonymous": True})
        return JSONResponse({"message": message})

    async def _estop_thread(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in a worker thread of the e-stop's own ESTOP_THREADS, not the shared pool's."""
        if self._estop_threads is None:
            self._estop_threads = anyio.CapacityLimiter(ESTOP_THREADS)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._estop_threads)

    async def reset(self, request: Request) -> Response:
        session = await self.session(request, Permission.RESET_ESTOP)
        body = await read_json(request, ("confirm",))
        if body["confirm"] is not True:
            raise BadRequest("a reset needs 'confirm': true (check the cell is clear first)")
        message = await run_in_threadpool(self.cell.reset)
        await run_in_threadpool(self.audit, session, Action.RESET, {"answer": message})
        return JSONResponse({"message": message})

    async def speed(self, request: Request) -> Response:
        await self.session(request, Permission.JOG)
        percent = (await read_json(request, ("percent",)))["percent"]
        if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not 1 <= percent <= 100:
            raise BadRequest(f"percent must be a number from 1 to 100; got {percent!r:.40}")
        await run_in_threadpool(self.cell.set_speed_override, percent / 100.0)
        return JSONResponse({"speed_override": percent / 100.0})

    async def jog(self, request: Request) -> Response:
        """One jog step; held jogging goes over the websocket (it needs the heartbeat)."""
        session = await self.session(request, Permission.JOG)
        body = await read_json(request, ("mode", "axis", "direction", "step"))
        motion = await run_in_threadpool(self.plan_step_jog, session, body)
        await run_in_threadpool(self.audit, session, Action.JOG, {**body, "held": False})
        return JSONResponse({"duration": motion.path.duration})

    def plan_step_jog(self, session: Session, body: dict):
        cell = self.cell
        self.check_free_to_move()
        planner = cell.planner()
        command, step = JogCommand.parse(body, len(planner.limits.arm_names)), parse_step(body["step"])
        cell.check_can_move()
        cell.set_manual_mode(True)
        q, v = cell.joint_state()
        motion = planner.step_jog(q, v, command, step, JOG_SPEED_LIMIT[session.user.role], cell.speed_override())
        cell.start_motion(motion, JOG_OWNER)
        return motion

    async def jog_stop(self, request: Request) -> Response:
        await self.session(request, Permission.JOG)
        await read_json(request)
        await run_in_threadpool(self.cell.stop_motion, "stopped from the pendant", JOG_OWNER)
        return JSONResponse({"stopped": True})

    def check_no_program(self) -> None:
        status = self.runner.status()
        if status["state"] in ("starting", "running", "paused"):
            raise Conflict(f"program {status['program']!r} is {status['state']}: stop it first")

    def check_free_to_move(self) -> None:
        """Conflict while a program runs or the policy has an instruction (it commands the arm meanwhile)."""
        self.check_no_program()
        if self.cell.instruction():
            raise Conflict(f"the policy is following the instruction {self.cell.instruction()!r}: clear it first")

    async def instruction(self, request: Request) -> Response:
        session = await self.session(request, Permission.RUN_SKILL)
        text = ""
        if request.method == "POST":
            text = parse_instruction((await read_json(request, ("text",)))["text"])
            self.check_no_program()
        await run_in_threadpool(self.cell.publish_instruction, text)
        await run_in_threadpool(self.audit, session, Action.SKILL, {"instruction": text, "cleared": not text})
        return JSONResponse({"instruction": text})

    # -- waypoints and programs -------------------------------------------------------------------
    async def waypoints(self, request: Request) -> Response:
        if request.method == "GET":
            await self.session(request, Permission.VIEW)
            found = await run_in_threadpool(self.pendant.programs.waypoints)
            return JSONResponse({"waypoints": [_waypoint_json(w) for w in found]})
        session = await self.session(request, Permission.TEACH)
        body = await read_json(request, ("name",), ("replace", "joints"))
        saved = await run_in_threadpool(self.teach, session, body)
        return JSONResponse(_waypoint_json(saved), status_code=201)

    def teach(self, session: Session, body: dict) -> Waypoint:
        """Save the given joints, or the current pose, as a waypoint (refused where the safety checks refuse it)."""
        planner = self.cell.planner()
        joints = body.get("joints")
        if joints is None:
            q, _ = self.cell.joint_state()
            joints = dict(zip(planner.limits.arm_names, q[: planner.arm].tolist()))
        waypoint = Waypoint(body["name"], joints)
        position, rotation = planner.frame.pose(planner.arm_positions(waypoint))
        waypoint = Waypoint(waypoint.name, waypoint.joints, tuple(position.tolist() + quaternion(rotation).tolist()))
        replace = body.get("replace", False)
        if not isinstance(replace, bool):
            raise BadRequest("replace must be true or false")
        return self.pendant.programs.save_waypoint(session.user, waypoint, check=planner.check_pose, replace=replace)

    async def programs(self, request: Request) -> Response:
        library = self.pendant.programs
        if request.method == "GET":
            await self.session(request, Permission.VIEW)
            return JSONResponse({"programs": [_info_json(i) for i in await run_in_threadpool(library.programs)]})
        session = await self.session(request, Permission.EDIT_PROGRAM)
        body = await read_json(request, ("name", "steps"), ("base_version",))
        program = parse_program({"name": body["name"], "steps": body["steps"]})
        base = body.get("base_version")
        if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
            raise BadRequest(f"base_version must be a whole number >= 0; got {base!r:.20}")
        info = await run_in_threadpool(lambda: library.save(session.user, program, base_version=base))
        return JSONResponse(_info_json(info), status_code=201)

    async def program(self, request: Request) -> Response:
        library, name = self.pendant.programs, request.path_params["name"]
        if request.method == "DELETE":
            session = await self.session(request, Permission.EDIT_PROGRAM)
            await run_in_threadpool(library.delete, session.user, name)
            return Response(status_code=204)
        await self.session(request, Permission.VIEW)
        loaded = await run_in_threadpool(library.load, name, _version(request))
        return JSONResponse({**json.loads(program_to_json(loaded.document)), "version": loaded.version,
                             "approved": loaded.approved, "created_by": loaded.created_by,
                             "created_at": loaded.created_at})

    async def approve(self, request: Request) -> Response:
        session = await self.session(request, Permission.APPROVE_PROGRAM)
        version = (await read_json(request, ("version",)))["version"]
        check = (await run_in_threadpool(self.cell.planner)).check_pose
        info = await run_in_threadpool(lambda: self.pendant.programs.approve(
            session.user, request.path_params["name"], version, check=check))
        return JSONResponse(_info_json(info))

    async def export(self, request: Request) -> Response:
        await self.session(request, Permission.VIEW)
        name = request.path_params["name"]
        text = await run_in_threadpool(self.pendant.programs.export_json, name, _version(request))
        return Response(text, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}.json"'})

    async def import_program(self, request: Request) -> Response:
        session = await self.session(request, Permission.EDIT_PROGRAM)
        text = await read_body(request, MAX_DOCUMENT_BYTES)
        check = (await run_in_threadpool(self.cell.planner)).check_pose
        info = await run_in_threadpool(lambda: self.pendant.programs.import_json(session.user, text, check=check))
        return JSONResponse(_info_json(info), status_code=201)

    # -- the runner -------------------------------------------------------------------------------
    async def run(self, request: Request) -> Response:
        session = await self.session(request, Permission.RUN_PROGRAM)
        mode = (await read_json(request, optional=("mode",))).get("mode", "run")
        if mode not in ("run", "step"):
            raise BadRequest(f"mode must be 'run' or 'step'; got {mode!r:.40}")
        version = await run_in_threadpool(self.pendant.programs.runnable, session.user, request.path_params["name"])
        self.check_free_to_move()
        self.cell.stop_motion("a program starts", JOG_OWNER)
        status = await run_in_threadpool(self.runner.start, session.user, version, mode == "step")
        return JSONResponse(status, status_code=202)

    async def run_control(self, request: Request) -> Response:
        action = request.path_params["action"]
        permission = Permission.RUN_SKILL if action == "confirm" else Permission.RUN_PROGRAM
        session = await self.session(request, permission)
        await read_json(request)
        runner = self.runner
        controls = {"pause": runner.pause, "resume": runner.resume, "step": lambda: runner.resume(single_step=True),
                    "stop": lambda: runner.stop(session.user), "confirm": lambda: runner.confirm(session.user)}
        if action not in controls:
            raise NotFound(f"no run control {action!r:.40}: use {', '.join(controls)}")
        return JSONResponse(await run_in_threadpool(controls[action]))

    async def run_status(self, request: Request) -> Response:
        await self.session(request, Permission.VIEW)
        return JSONResponse(self.runner.status())

    # -- policies and audit ---------------------------------------------------------------------
    async def policies(self, request: Request) -> Response:
        await self.session(request, Permission.VIEW)
        bundles = await run_in_threadpool(policies.bundles, self.policies_dir)
        return JSONResponse({"bundles": bundles, "current": self.cell.snapshot()["policy"].get("bundle", "")})

    async def choose_policy(self, request: Request) -> Response:
        session = await self.session(request, Permission.CHOOSE_POLICY)
        name = (await read_json(request, ("name",)))["name"]
        path = await run_in_threadpool(policies.deployable, self.policies_dir, name)
        self.check_no_program()
        state = await run_in_threadpool(self.cell.switch_policy, str(path))
        await run_in_threadpool(self.audit, session, Action.POLICY_CHANGED, {"name": name, "bundle": str(path)})
        return JSONResponse({"name": name, "state": state})

    async def audit_log(self, request: Request) -> Response:
        await self.session(request, Permission.VIEW_AUDIT)
        filters = _audit_filters(request)
        if request.url.path.endswith(".csv"):
            text = await run_in_threadpool(lambda: self.pendant.audit.export_csv(**filters))
            return Response(text, media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
        entries = await run_in_threadpool(lambda: self.pendant.audit.query(**filters))
        return JSONResponse({"entries": [{"id": e.id, "time": e.at, "user": e.user, "action": e.action.value,
                                          "detail": e.detail} for e in entries]})

    async def not_found(self, request: Request) -> Response:
        raise NotFound(f"no API endpoint {request.method} {request.url.path[:80]}")


def create_app(pendant: Pendant, cell: PendantBridge, runner: ProgramRunner, site: Site,
               policies_dir: str | Path, static: Path = STATIC) -> Starlette:
    app = PendantApp(pendant, cell, runner, site, policies_dir)
    live = Live(app)
    routes = [
        Route("/api/setup", app.setup_state, methods=["GET"]),
        Route("/api/setup", app.setup, methods=["POST"]),
        Route("/api/login", app.login, methods=["POST"]),
        Route("/api/logout", app.logout, methods=["POST"]),
        Route("/api/session", app.whoami, methods=["GET"]),
        Route("/api/users", app.users, methods=["GET", "POST"]),
        Route("/api/users/{name}", app.user, methods=["PATCH"]),
        Route("/api/state", app.state, methods=["GET"]),
        Route("/api/estop", app.estop, methods=["POST"]),
        Route("/api/reset", app.reset, methods=["POST"]),
        Route("/api/speed", app.speed, methods=["POST"]),
        Route("/api/jog", app.jog, methods=["POST"]),
        Route("/api/jog/stop", app.jog_stop, methods=["POST"]),
        Route("/api/instruction", app.instruction, methods=["POST", "DELETE"]),
        Route("/api/waypoints", app.waypoints, methods=["GET", "POST"]),
        Route("/api/programs", app.programs, methods=["GET", "POST"]),
        Route("/api/programs/import", app.import_program, methods=["POST"]),
        Route("/api/programs/{name}", app.program, methods=["GET", "DELETE"]),
        Route("/api/programs/{name}/approve", app.approve, methods=["POST"]),
        Route("/api/programs/{name}/export", app.export, methods=["GET"]),
        Route("/api/programs/{name}/run", app.run, methods=["POST"]),
        Route("/api/run", app.run_status, methods=["GET"]),
        Route("/api/run/{action}", app.run_control, methods=["POST"]),
        Route("/api/policies", app.policies, methods=["GET"]),
        Route("/api/policies/choose", app.choose_policy, methods=["POST"]),
        Route("/api/audit", app.audit_log, methods=["GET"]),
        Route("/api/audit.csv", app.audit_log, methods=["GET"]),
        Route("/api/{rest:path}", app.not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        WebSocketRoute("/ws", live.connect),
        Mount("/", StaticFiles(directory=static, html=True)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=_headers)],
                     exception_handlers={PendantError: error_response})


async def _headers(request: Request, call_next) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if request.url.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _session_json(session: Session) -> dict:
    role = session.user.role
    return {"user": _user_json(session.user), "csrf_token": session.csrf_token,
            "permissions": sorted(p.name.lower() for p in Permission if allowed(role, p)),
            "jog_speed_limit": JOG_SPEED_LIMIT[role]}


def _user_json(user) -> dict:
    return {"name": user.name, "role": user.role.label, "disabled": user.disabled, "created": user.created}


def _waypoint_json(waypoint: Waypoint) -> dict:
    return {"name": waypoint.name, **waypoint.to_dict(), "created_by": waypoint.created_by,
            "created_at": waypoint.created_at}


def _info_json(info) -> dict:
    return {"name": info.name, "current_version": info.current_version, "approved_version": info.approved_version,
            "updated_by": info.updated_by, "updated_at": info.updated_at}


def _version(request: Request) -> int | None:
    text = request.query_params.get("version")
    if text is None:
        return None
    if not text.isdigit():
        raise BadRequest(f"version must be a whole number; got {text!r:.20}")
    return int(text)


def _audit_filters(request: Request) -> dict:
    query, filters = request.query_params, {}
    unknown = sorted(set(query) - {"since", "until", "user", "action", "limit"})
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(repr(k[:40]) for k in unknown[:5])}")
    try:
        for key in ("since", "until"):
            if key in query:
                filters[key] = float(query[key])
        if "limit" in query:
            filters["limit"] = int(query["limit"])
    except ValueError:
        raise BadRequest("since and until must be Unix seconds, limit a whole number") from None
    for key in ("user", "action"):
        if key in query:
            filters[key] = query[key]
    return filters
