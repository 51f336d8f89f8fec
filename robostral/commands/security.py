"""`robostral security`: access control on the ROS 2 graph (see docs/security.md).

`check`: whether the installed Fast DDS supports DDS-Security (SROS2 enclaves); exit status
0 when it does, 1 when it does not (the PyPI wheels: the site isolates the control network).
`profile`: write the Fast DDS XML profile that binds DDS to loopback and the control
network's addresses and discovers only the cell's hosts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("security", help="ROS 2 graph access control: check DDS-Security, write profiles",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="security_action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="does this Fast DDS support DDS-Security (SROS2)?", description=__doc__)
    check.set_defaults(action=_check)
    profile = actions.add_parser("profile", help="write a Fast DDS profile confining DDS to the control network",
                                 description=__doc__)
    profile.add_argument("--address", action="append", default=[], metavar="IPV4",
                         help="this host's address on the control network (repeatable; loopback is always in)")
    profile.add_argument("--peer", action="append", default=[], metavar="IPV4",
                         help="another host of the cell, e.g. the ros2_control computer (repeatable)")
    profile.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    profile.set_defaults(action=_profile)
    parser.set_defaults(run=lambda args: args.action(args))


def _check(args: argparse.Namespace) -> int:
    from robostral.ros.security import dds_security_status

    status = dds_security_status()
    if status.available:
        print(f"DDS-Security: available (an empty enclave was refused for its contents: {status.detail})")
        return 0
    print(f"DDS-Security: NOT available in this Fast DDS ({status.detail}).\n"
          "Isolate the control network instead: docs/security.md", file=sys.stderr)
    return 1


def _profile(args: argparse.Namespace) -> int:
    from robostral.ros.security import fastdds_profile

    text = fastdds_profile(args.address, args.peer)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    Path(args.output).write_text(text)
    print(f"wrote {args.output}: run every node of the cell with FASTDDS_DEFAULT_PROFILES_FILE={args.output} "
          "and ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT")
    return 0
