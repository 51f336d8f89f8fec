"""Helpers for the teach pendant tests: a clock the test moves, cheap argon2, a database with users in it."""

from __future__ import annotations

import argon2

from robostral.pendant.access.auth import AuthPolicy, User
from robostral.pendant.access.roles import Role
from robostral.pendant.service import Pendant

# argon2's cheapest profile: the tests hash dozens of passwords; the default profile takes ~0.4 s each.
CHEAP = AuthPolicy(hash_parameters=argon2.profiles.CHEAPEST)
PASSWORD = "correct horse battery"


class FakeClock:
    """Unix seconds that move only when the test says so."""

    def __init__(self, now: float = 1_750_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def open_pendant(path, clock: FakeClock) -> Pendant:
    return Pendant.open(path, policy=CHEAP, clock=clock)


def with_users(pendant: Pendant) -> dict[Role, User]:
    """A first admin 'ada', an engineer 'eve' and an operator 'otto', all with PASSWORD."""
    admin = pendant.auth.create_first_admin("ada", PASSWORD)
    return {
        Role.ADMIN: admin,
        Role.ENGINEER: pendant.auth.create_user(admin, "eve", PASSWORD, Role.ENGINEER),
        Role.OPERATOR: pendant.auth.create_user(admin, "otto", PASSWORD, Role.OPERATOR),
    }
