"""`robostral export`: turn a training checkpoint into a policy bundle (ONNX + encoder + card.yaml)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from robostral.bundle.gate import GATES
from robostral.commands.arguments import given
from robostral.recipe import card_recipe, read_log


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
    parser.add_argument("--int8", action="store_true",
                        help="also write policy_int8.onnx, vouched for in the card; the export fails, writing "
                             "nothing, unless it is within --int8-max-abs of fp32 and --int8-min-speedup faster")
    # Defaults in robostral/export/quantize.py (Int8Gate), each with why; None here: that module is heavy too.
    parser.add_argument("--int8-max-abs", type=float, metavar="JOINT_UNITS",
                        help="largest |int8 - fp32| joint target allowed on dataset frames "
                             "(default: INT8_MAX_ABS in robostral/export/quantize.py)")
    parser.add_argument("--int8-min-speedup", type=float, metavar="RATIO",
                        help="fp32 p50 / int8 p50 at batch 1 the variant must reach "
                             "(default: INT8_MIN_SPEEDUP, there too)")
    # No default here: export_bundle's applies (its module imports torch, too heavy for the parser).
    parser.add_argument("--gate", choices=tuple(GATES),
                        help="the gate written in the card, which promotion into policies/ must pass "
                             "(see robostral/bundle/gate.py)")
    parser.add_argument("--recipe", type=Path, metavar="LOG",
                        help="the log of the recipe this export ends (runs/recipes/NAME/log.json): the card keeps "
                             "every stage's command and time")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from robostral.export.bundle import export_bundle
    from robostral.export.quantize import Int8Gate
    from robostral.training.checkpoint import latest_checkpoint

    checkpoint = args.checkpoint
    if not (checkpoint / "state.json").exists():
        checkpoint = latest_checkpoint(checkpoint)
        if checkpoint is None:
            raise FileNotFoundError(f"{args.checkpoint}: neither a checkpoint nor a training run with checkpoints")
    options = given(args, "int8_max_abs", "int8_min_speedup")
    bounds = {name.removeprefix("int8_"): value for name, value in options.items()}
    if bounds and not args.int8:
        raise ValueError("--int8-max-abs and --int8-min-speedup bound the int8 variant: pass --int8 with them")
    int8 = Int8Gate(**bounds) if args.int8 else None
    recipe = None
    if args.recipe is not None:
        if not args.recipe.is_file():
            raise FileNotFoundError(f"--recipe {args.recipe}: no recipe log there (robostral recipe run writes it)")
        recipe = card_recipe(read_log(args.recipe))
    command = "robostral " + shlex.join(sys.argv[1:])
    card = export_bundle(checkpoint, args.out, command, dataset=args.dataset, int8=int8, recipe=recipe,
                         **given(args, "gate"))
    parity, speed = card.export["parity"], card.export["latency_batch1"]
    print(
        f"bundle {args.out}: parity max abs {parity['max_abs']:.2e} over {parity['frames']} frames, "
        f"batch-1 p50 {speed['fp32_ms']['p50']:.2f} ms"
    )
    if int8 is not None:
        vouched = card.export["int8"]
        print(f"int8: max abs {vouched['max_abs']:.3g} against fp32 (bound {vouched['bound']:g}), "
              f"p50 {speed['int8_ms']['p50']:.2f} ms, {vouched['speedup']:.2f}x fp32 (at least "
              f"{vouched['min_speedup']:g}x): vouched for in the card")
    return 0
