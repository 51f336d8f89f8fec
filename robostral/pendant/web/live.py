"""The live websocket ``/ws``: the cell pushed to the page, and held motions with their deadman heartbeat.

Server to page: the state snapshot as JSON every ``STATE_PERIOD`` s (joints, safety, program,
alarms) and each new camera frame as a binary JPEG message, at most ``CAMERA_PERIOD`` apart: one
push stream per page, no polling. Page to server (JSON): ``{"type": "jog", "mode", "axis",
"direction"}`` (a Cartesian jog may add ``"frame": "base" | "tool"``) or ``{"type": "move_to",
"waypoint"}`` start a held motion owned by this connection; ``{"type": "heartbeat"}`` every
50-100 ms keeps it going; ``{"type": "stop"}``, a missing heartbeat for 0.2 s or the connection
closing stop it. Refusals come back as ``{"type": "error", "status", "error"}``. The handshake
needs the session cookie and this server's Origin (a cross-site page cannot open it).
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from robostral.pendant.access.audit import Action
from robostral.pendant.access.auth import Session
from robostral.pendant.access.roles import JOG_SPEED_LIMIT, Permission, require
from robostral.pendant.errors import BadRequest, PendantError
from robostral.pendant.json_input import check_fields
from robostral.pendant.motion.jog import JogCommand
from robostral.pendant.motion.streaming import HEARTBEAT_TIMEOUT, HeldMotion
from robostral.pendant.web.context import AppContext
from robostral.pendant.web.http import session_for

STATE_PERIOD = 0.05  # s: 20 Hz
CAMERA_PERIOD = 0.1  # s: 10 frames a second at most
MAX_MESSAGE = 4096  # bytes of a message from the page
POLICY_VIOLATION = 1008


class Live:
    """The websocket endpoint, on the routes' shared context."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def connect(self, websocket: WebSocket) -> None:
        context = self.context
        try:
            session = await session_for(websocket, context.pendant.auth, context.site, Permission.VIEW)
            context.site.check(websocket, origin_required=True)
        except PendantError as error:
            await websocket.close(code=POLICY_VIOLATION, reason=str(error)[:120])
            return
        await websocket.accept()
        pusher = asyncio.create_task(self.push(websocket))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                reply = await self.handle(websocket, session, message.get("text") or "")
                if reply:
                    await websocket.send_json(reply)
        except WebSocketDisconnect:
            pass
        finally:
            pusher.cancel()
            await run_in_threadpool(context.cell.stop_motion, "the page's connection closed", websocket)

    async def push(self, websocket: WebSocket) -> None:
        """The snapshot every STATE_PERIOD, a new camera frame every CAMERA_PERIOD at most.

        The ticks keep to a fixed schedule (sleeping a whole period after each send ran the page
        below 20 Hz); one that falls a period behind skips ahead instead of sending a burst. A state
        that cannot be sent as JSON goes as an error message instead (the page stops any held motion).
        """
        cell, sent_frame, tick, camera_tick, due = self.context.cell, None, 0, 0, time.monotonic()
        while True:
            try:
                text = self.context.state_json(type="state")
            except PendantError as error:
                text = json.dumps(_error(error))
            await websocket.send_text(text)
            if tick >= camera_tick:  # no new frame yet: try again at the next tick
                frame = cell.camera_frame()
                if frame is not None and frame[0] != sent_frame:
                    await websocket.send_bytes(frame[1])
                    sent_frame, camera_tick = frame[0], tick + round(CAMERA_PERIOD / STATE_PERIOD)
            tick, due, now = tick + 1, due + STATE_PERIOD, time.monotonic()
            if due < now - STATE_PERIOD:
                due = now
            await asyncio.sleep(max(0.0, due - now))

    async def handle(self, websocket: WebSocket, session: Session, text: str) -> dict | None:
        """Act on one message from the page; the reply to send, if any."""
        cell = self.context.cell
        try:
            if len(text) > MAX_MESSAGE:
                raise BadRequest(f"a message is at most {MAX_MESSAGE} bytes")
            try:
                message = json.loads(text)
            except ValueError:
                raise BadRequest("messages are JSON objects with a 'type'") from None
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "heartbeat":
                cell.heartbeat(websocket)
                return None
            if kind == "stop":
                await run_in_threadpool(cell.stop_motion, "released", websocket)
                return None
            if kind not in ("jog", "move_to"):
                raise BadRequest(f"unknown message type {kind!r:.40}: heartbeat, stop, jog or move_to")
            session = await session_for(websocket, self.context.pendant.auth, self.context.site, Permission.VIEW)
            await run_in_threadpool(self.hold, websocket, session, message)
            return {"type": "motion", "started": kind}
        except PendantError as error:
            return _error(error)

    def hold(self, websocket: WebSocket, session: Session, message: dict) -> None:
        """Start a held jog or move to a waypoint, owned by this connection, in manual mode."""
        context, cell = self.context, self.context.cell
        context.check_free_to_move()
        planner = cell.planner()
        if message["type"] == "jog":
            require(session.user.role, Permission.JOG)
            body = check_fields(message, "a jog message", ("type", "mode", "axis", "direction"), ("frame",))
            command = JogCommand.parse(body, len(planner.limits.arm_names))
            cell.check_can_move()
            cell.set_manual_mode(True)
            q, _ = cell.joint_state()
            motion = planner.jog(q, command, JOG_SPEED_LIMIT[session.user.role])
            detail = {**{key: value for key, value in body.items() if key != "type"}, "held": True}
            action = Action.JOG
        else:
            require(session.user.role, Permission.TEACH)
            body = check_fields(message, "a move message", ("type", "waypoint"))
            waypoint = context.pendant.programs.waypoint(body["waypoint"])
            cell.check_can_move()
            cell.set_manual_mode(True)
            q, v = cell.joint_state()
            motion = planner.move(q, v, waypoint, "joint", planner.config.jog.joint_speed, cell.speed_override(), True)
            detail, action = {"waypoint": waypoint.name, "held": True}, Action.MOVE
        cell.start_motion(HeldMotion(motion, HEARTBEAT_TIMEOUT, time.monotonic()), websocket)
        context.audit(session, action, detail)


def _error(error: PendantError) -> dict:
    """A refusal as the page's websocket reads it."""
    return {"type": "error", "status": error.status, "error": str(error)}
