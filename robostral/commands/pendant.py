"""`robostral pendant`: the teach pendant's administration.

`create-admin`: create the first admin; there is no default account. The password comes from the
ROBOSTRAL_ADMIN_PASSWORD environment variable (for automation) or is asked for twice at a prompt.
Exit status: 0 created, 1 refused (a user exists, a weak password).

`cert`: make a self-signed TLS certificate and its private key (mode 0600) for a cell without a
certificate of its own, for the names the tablets use, and print its SHA-256 fingerprint (check it on
each tablet before trusting it). Exit status: 0 written, 1 refused (the files exist: --force replaces them).
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
    cert = actions.add_parser("cert", help="make a self-signed TLS certificate to serve the pendant on the network",
                              description=__doc__)
    cert.add_argument("--out", required=True, metavar="DIR", help="folder for pendant.crt and pendant.key "
                                                                  "(created if missing)")
    cert.add_argument("--host", action="append", metavar="NAME", help="a host name or IP address the tablets "
                      "open the pendant by (repeatable; default: localhost, 127.0.0.1 and this computer's name)")
    cert.add_argument("--force", action="store_true", help="replace an existing certificate and key")
    cert.set_defaults(action=_cert)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.pendant.errors import PendantError
    from robostral.pendant.tls import TlsError

    try:
        return args.action(args)
    except (PendantError, TlsError) as error:
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


def _cert(args: argparse.Namespace) -> int:
    from robostral.pendant import tls

    cert_pem, key_pem = tls.self_signed(args.host or tls.default_names())
    made = tls.load(*tls.write_pair(args.out, cert_pem, key_pem, force=args.force))  # as the pendant will load it
    print(f"wrote {made.cert} and its private key {made.key} (mode 0600)")
    print(f"names: {', '.join(made.names)}; valid until {made.expires:%Y-%m-%d} UTC")
    print(f"SHA-256 fingerprint: {made.fingerprint}")
    print(f"serve with: robostral up --tls-cert {made.cert} --tls-key {made.key} --param pendant.host=ADDRESS")
    return 0
