"""`robostral pendant create-admin`: create the teach pendant's first admin; there is no default account.

The password comes from the ROBOSTRAL_ADMIN_PASSWORD environment variable (for automation) or is
asked for twice at a prompt. Exit status: 0 created, 1 refused (a user exists, a weak password).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

PASSWORD_ENV = "ROBOSTRAL_ADMIN_PASSWORD"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pendant", help="teach pendant administration", description=__doc__)
    actions = parser.add_subparsers(dest="pendant_action", required=True, metavar="ACTION")
    create = actions.add_parser("create-admin", help="create the first admin user (only while there is no user)",
                                description=__doc__)
    create.add_argument("--db", required=True, metavar="PATH", help="pendant database file (created if missing)")
    create.add_argument("--name", required=True, help="the admin's user name")
    create.set_defaults(action=_create_admin)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.pendant.errors import PendantError

    try:
        return args.action(args)
    except PendantError as error:
        print(f"robostral pendant: error: {error}", file=sys.stderr)
        return 1


def _create_admin(args: argparse.Namespace) -> int:
    from robostral.pendant.errors import BadRequest
    from robostral.pendant.service import Pendant

    pendant = Pendant.open(args.db)
    try:
        if not pendant.auth.needs_first_admin():  # checked before the prompt, so nobody types a password for nothing
            print(f"robostral pendant: error: {args.db} has users already: an admin adds more from the pendant",
                  file=sys.stderr)
            return 1
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                raise BadRequest("the two passwords differ")
        user = pendant.auth.create_first_admin(args.name, password)
    finally:
        pendant.close()
    print(f"created admin {user.name!r} in {args.db}")
    return 0
