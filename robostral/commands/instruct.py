"""`robostral instruct TEXT`: give the running graph an instruction and wait for success or a timeout.

Exit status 0 when the simulator reports the instruction done, 1 on timeout, 2 (with the reason,
nothing published) for text that is no instruction (``sim.language.check_instruction``).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("instruct", help="send an instruction to the running graph", description=__doc__)
    parser.add_argument("text", help='e.g. "pick up the red cube and put it in the blue bin"')
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for success")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.ros.instruct import instruct

    outcome = instruct(args.text, args.timeout)  # ValueError (exit 2) before publishing, for junk
    verdict = "done" if outcome.success else "NOT done"
    print(f"{outcome.instruction!r}: {verdict} after {outcome.seconds:.1f} s ({outcome.detail})", flush=True)
    latency = {k: v for k, v in outcome.policy.items() if k.endswith("_ms")}
    if latency:
        print("policy latency: " + ", ".join(f"{k} {v}" for k, v in sorted(latency.items())))
    return 0 if outcome.success else 1
