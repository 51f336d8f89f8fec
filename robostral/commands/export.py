"""`robostral export`: turn a training checkpoint into a policy bundle (ONNX + encoder + card.yaml)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from robostral.bundle.gate import GATES
from robostral.commands.arguments import given


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to a policy bundle", description=__doc__)
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        help="a checkpoint folder (checkpoints/step-N) or a training run folder (its latest)",
    )
    parser.add_argument("--out", required=True, type=Path, help="bundle folder to write (replaced on success)")
    parser.add_argument("--dataset", type=Path, help="dataset for the parity check (default: the training dataset)")
    parser.add_argument("--int8", action="store_true", help="also write policy_int8.onnx and report its parity/speed")
    # No default here: export_bundle's applies (its module imports torch, too heavy for the parser).
    parser.add_argument("--gate", choices=tuple(GATES),
                        help="the gate written in the card, which promotion into policies/ must pass "
                             "(see robostral/bundle/gate.py)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.export.bundle import export_bundle
    from robostral.training.checkpoint import latest_checkpoint

    checkpoint = args.checkpoint
    if not (checkpoint / "state.json").exists():
        checkpoint = latest_checkpoint(checkpoint)
        if checkpoint is None:
            raise FileNotFoundError(f"{args.checkpoint}: neither a checkpoint nor a training run with checkpoints")
    command = "robostral " + shlex.join(sys.argv[1:])
    card = export_bundle(checkpoint, args.out, command, dataset=args.dataset, int8=args.int8, **given(args, "gate"))
    parity, speed = card.export["parity"], card.export["latency_batch1"]
    print(
        f"bundle {args.out}: parity max abs {parity['max_abs']:.2e} over {parity['frames']} frames, "
        f"batch-1 p50 {speed['fp32_ms']['p50']:.2f} ms"
    )
    if args.int8:
        print(f"int8: parity max abs {parity['int8_max_abs']:.3g}, p50 {speed['int8_ms']['p50']:.2f} ms")
    return 0
