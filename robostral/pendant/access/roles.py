"""Roles and what each may do: the permission table, as data, in one place.

Roles are ordered (operator < engineer < admin) and each permission names the lowest role that holds
it, so a higher role can do everything a lower one can. The web layer and the core both ask
``require``; the web layer maps its ``Forbidden`` to 403.
"""

from __future__ import annotations

import enum

from robostral.pendant.errors import BadRequest, Forbidden


class Role(enum.IntEnum):
    OPERATOR = 1
    ENGINEER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """The name users see and the database stores: 'operator', 'engineer', 'admin'."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: object) -> Role:
        """The role called ``text``; a BadRequest naming the choices otherwise."""
        for role in cls:
            if text == role.label:
                return role
        raise BadRequest(f"role must be one of {', '.join(r.label for r in cls)}; got {text!r}")


class Permission(enum.Enum):
    """Something a request does; the value completes the sentence 'may not ...'."""

    VIEW = "view the pendant"
    STOP = "stop the arm"
    JOG = "jog at reduced speed"
    RUN_PROGRAM = "run approved programs"
    RUN_SKILL = "run skills"
    JOG_FULL_SPEED = "jog at full speed"
    RUN_UNAPPROVED = "run programs that are not approved"
    TEACH = "teach waypoints"
    EDIT_PROGRAM = "edit programs"
    APPROVE_PROGRAM = "approve programs"
    CHOOSE_POLICY = "choose the deployed policy"
    RESET_ESTOP = "reset an e-stop"
    VIEW_AUDIT = "view the audit log"
    DEMONSTRATE = "record, review or delete demonstrations"
    MANAGE_USERS = "manage users"


# The lowest role that holds each permission. Every Permission appears here (a test checks).
REQUIRED_ROLE: dict[Permission, Role] = {
    Permission.VIEW: Role.OPERATOR,
    Permission.STOP: Role.OPERATOR,
    Permission.JOG: Role.OPERATOR,
    Permission.RUN_PROGRAM: Role.OPERATOR,
    Permission.RUN_SKILL: Role.OPERATOR,
    Permission.JOG_FULL_SPEED: Role.ENGINEER,
    Permission.RUN_UNAPPROVED: Role.ENGINEER,
    Permission.TEACH: Role.ENGINEER,
    Permission.EDIT_PROGRAM: Role.ENGINEER,
    Permission.APPROVE_PROGRAM: Role.ENGINEER,
    Permission.CHOOSE_POLICY: Role.ENGINEER,
    Permission.RESET_ESTOP: Role.ENGINEER,
    Permission.VIEW_AUDIT: Role.ENGINEER,
    Permission.DEMONSTRATE: Role.ENGINEER,
    Permission.MANAGE_USERS: Role.ADMIN,
}

# Fraction of full joint speed a jog may use; "reduced speed" for operators (cf. ISO 10218's teach mode).
JOG_SPEED_LIMIT: dict[Role, float] = {Role.OPERATOR: 0.25, Role.ENGINEER: 1.0, Role.ADMIN: 1.0}


def allowed(role: Role, permission: Permission) -> bool:
    return role >= REQUIRED_ROLE[permission]


def require(role: Role, permission: Permission) -> None:
    """Raise Forbidden unless ``role`` holds ``permission``."""
    if not allowed(role, permission):
        needed = REQUIRED_ROLE[permission].label
        raise Forbidden(f"an {role.label} may not {permission.value}: this needs the {needed} role or higher")
