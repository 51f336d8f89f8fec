"""What every screen's routes and the live websocket share: the database, the cell, the runner and the site.

With the checks they have in common: the caller's session, auditing, the state the page shows,
and whether the arm is free for a manual motion.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from robostral.pendant.access.audit import Action
from robostral.pendant.access.auth import Session
from robostral.pendant.access.roles import Permission
from robostral.pendant.errors import Conflict, InvalidState
from robostral.pendant.motion.runner import ProgramRunner
from robostral.pendant.service import Pendant
from robostral.pendant.web.cell import PendantCell
from robostral.pendant.web.http import Site, session_for

JOG_OWNER = "step jog"  # the owner of step jogs (held motions belong to their websocket)


class AppContext:
    """One pendant database, cell, runner and site, as the routes use them."""

    def __init__(self, pendant: Pendant, cell: PendantCell, runner: ProgramRunner, site: Site) -> None:
        self.pendant, self.cell, self.runner, self.site = pendant, cell, runner, site

    async def session(self, request: Request, permission: Permission) -> Session:
        return await session_for(request, self.pendant.auth, self.site, permission)

    def audit(self, session: Session, action: Action, detail: dict) -> None:
        self.pendant.audit.record(session.user.name, action, detail)

    def state_json(self, **extra: object) -> str:
        """What the page shows (the cell's and the runner's state, and ``extra``) as JSON text.

        InvalidState rather than text with NaN or Infinity in it, which is not JSON: the page could not read it.
        """
        state = {**extra, **self.cell.snapshot(), "program": self.runner.status()}
        try:
            return json.dumps(state, allow_nan=False)
        except ValueError as error:
            raise InvalidState(f"the cell's state cannot be shown: {error}") from None

    def check_no_program(self) -> None:
        status = self.runner.status()
        if status["state"] in ("starting", "running", "paused"):
            raise Conflict(f"program {status['program']!r} is {status['state']}: stop it first")

    def check_free_to_move(self) -> None:
        """Conflict while a program runs or the policy has an instruction (it commands the arm meanwhile)."""
        self.check_no_program()
        if self.cell.instruction():
            raise Conflict(f"the policy is following the instruction {self.cell.instruction()!r}: clear it first")
