"""`robostral train`: train Robostral-S on a dataset written by `robostral collect`."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

from robostral.commands.arguments import given
from robostral.training.config import TrainConfig
from sim.config import from_dict, from_yaml

# Command-line flags that override the YAML config (None = not given).
OVERRIDES = ("dataset", "out", "steps", "batch_size", "lr", "seed", "device", "threads", "init_from")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a policy on a dataset", description=__doc__)
    parser.add_argument("--config", metavar="YAML", help="training configuration (see robostral/training/config.py)")
    parser.add_argument("--dataset", help="dataset folder (LeRobotDataset v3.0 layout)")
    parser.add_argument("--out", help="output folder for checkpoints, metrics.csv, learning_curve.png")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help=f"cpu, cuda or cuda:N (default: --config's, else {TrainConfig.device})")
    parser.add_argument("--threads", type=int, help="torch CPU threads (0 = all cores)")
    parser.add_argument("--chunk-size", type=int, help="actions predicted per call (K)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--init-from", metavar="CHECKPOINT|BUNDLE",
                        help="start a fresh run from the weights of a checkpoint folder or of a policy bundle "
                             "(fine-tuning; a bundle's are read back from its policy.onnx and checked against it)")
    parser.set_defaults(run=run)


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The YAML config (or defaults) with the command-line flags applied on top."""
    config = from_yaml(TrainConfig, args.config) if args.config else TrainConfig()
    overrides = given(args, *OVERRIDES)
    config = from_dict(TrainConfig, {**dataclasses.asdict(config), **overrides})
    if args.chunk_size is not None:
        config.policy.chunk_size = args.chunk_size
    if not config.dataset:
        raise ValueError("no dataset: pass --dataset DIR or set dataset in --config")
    return config


def run(args: argparse.Namespace) -> int:
    from robostral.training.trainer import train  # torch is imported only when training

    out = train(build_config(args), resume=args.resume, command=shlex.join(["robostral", *sys.argv[1:]]))
    print(f"checkpoints in {out / 'checkpoints'}, metrics in {out / 'metrics.csv'}, curve {out / 'learning_curve.png'}")
    return 0
