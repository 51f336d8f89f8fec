"""One object that opens the pendant's database and wires its parts on one clock, for the server and the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from robostral.pendant.access.audit import AuditLog
from robostral.pendant.access.auth import Auth, AuthPolicy
from robostral.pendant.access.store import SYSTEM_CLOCK, Clock, Store
from robostral.pendant.programs.library import ProgramLibrary


@dataclasses.dataclass(frozen=True)
class Pendant:
    store: Store
    audit: AuditLog
    auth: Auth
    programs: ProgramLibrary

    @classmethod
    def open(cls, path: str | Path, *, policy: AuthPolicy | None = None, clock: Clock = SYSTEM_CLOCK) -> Pendant:
        """Open (creating and migrating if needed) the database file at ``path``."""
        store = Store(path)
        audit = AuditLog(store, clock)
        return cls(store, audit, Auth(store, audit, policy, clock), ProgramLibrary(store, audit, clock))

    def close(self) -> None:
        self.store.close()
