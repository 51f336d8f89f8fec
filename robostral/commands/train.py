"""`robostral train`: train Robostral-S on a dataset written by `robostral collect`."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from robostral.bundle.card import CARD_FILE, read_card
from robostral.commands.arguments import given
from robostral.training.config import FRAME_CACHE_MODES, PolicyOptions, TrainConfig
from sim.config import from_dict, yaml_mapping

# Command-line flags that override the YAML config (None = not given).
OVERRIDES = ("dataset", "out", "steps", "batch_size", "lr", "seed", "device", "threads", "init_from", "frame_cache",
             "frame_cache_dir")


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
    parser.add_argument("--frame-cache", choices=FRAME_CACHE_MODES,
                        help="camera frames decoded once into a file per camera that later runs reuse (disk), into "
                             "memory at each start (memory), or per batch from PNG (off) (default: --config's, "
                             f"else {TrainConfig.frame_cache})")
    parser.add_argument("--frame-cache-dir", metavar="DIR",
                        help="where disk frame caches live (default: a .frame_cache folder inside the dataset's)")
    parser.add_argument("--chunk-size", type=int, help="actions predicted per call (K)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--init-from", metavar="CHECKPOINT|BUNDLE",
                        help="start a fresh run from the weights of a checkpoint folder or of a policy bundle "
                             "(fine-tuning; a bundle's are read back from its policy.onnx and checked against it)")
    parser.set_defaults(run=run)


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The YAML config (or defaults) with the command-line flags applied on top.

    Fine-tuning a bundle (``--init-from BUNDLE``) takes the network the bundle's card describes,
    changed only where the config's ``policy`` section says (its instruction pooling, say), so
    nothing the config leaves out can disagree with the bundle.
    """
    values = {**(yaml_mapping(args.config, TrainConfig.__name__) if args.config else {}), **given(args, *OVERRIDES)}
    bundle = Path(values.get("init_from") or "")
    if (bundle / CARD_FILE).is_file():
        network = read_card(bundle).network
        values["policy"] = dataclasses.asdict(PolicyOptions.of_network(network)) | (values.get("policy") or {})
    config = from_dict(TrainConfig, values, source=args.config or "")  # a bad key or type names the file
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
