"""The `robostral` command: parses arguments and dispatches to one module per subcommand."""

from __future__ import annotations

import argparse
import faulthandler
import sys

from robostral.commands import camera as camera_command
from robostral.commands import collect as collect_command
from robostral.commands import compare as compare_command
from robostral.commands import dataset as dataset_command
from robostral.commands import eval as eval_command
from robostral.commands import export as export_command
from robostral.commands import fake_cell as fake_cell_command
from robostral.commands import finetune as finetune_command
from robostral.commands import instruct as instruct_command
from robostral.commands import pendant as pendant_command
from robostral.commands import policies as policies_command
from robostral.commands import recipe as recipe_command
from robostral.commands import robots as robots_command
from robostral.commands import security as security_command
from robostral.commands import sim as sim_command
from robostral.commands import sweep as sweep_command
from robostral.commands import train as train_command
from robostral.commands import up as up_command

COMMANDS = (robots_command, sim_command, collect_command, dataset_command, train_command, export_command,
            policies_command, recipe_command, finetune_command, eval_command, compare_command, sweep_command,
            up_command, fake_cell_command, instruct_command, camera_command, pendant_command, security_command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robostral", description="Robostral: robot VLA policies, sim to ROS 2.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if not faulthandler.is_enabled() and sys.__stderr__ is not None:
        faulthandler.enable(sys.__stderr__)  # a crash in native code (DDS, PyBullet, ONNX Runtime) prints the stack
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"robostral {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
