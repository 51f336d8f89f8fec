"""`robostral collect`: record scripted-expert demonstrations into a LeRobotDataset v3.0 directory.

Runs N successful episodes per task with domain randomization on, in worker processes.
The task ``chain`` records links of instruction chains (two cubes, three bins), one per
episode: the expert completes the links before the recorded one unrecorded.
Running the same command again resumes an interrupted collection; after a finished one
it does nothing. Exit status: 0 done, 1 a task gave up (too many failed seeds), 130 interrupted.

To train on what a cell's camera will show, render each camera at that camera's resolution and crop, turn
and mirror it as the cell's policy node will (its camera_* parameters): ``--camera-resolution 640x480
--camera-crop 80 0 480 480``; the same with ``--wrist-camera-*``. The dataset, and every bundle trained on
it, records this; ``robostral eval`` renders the same way.

DAgger: ``--dagger BUNDLE`` lets the policy drive while the expert labels every state it visits (re-planning
from the scene), and adds every episode, failed or not, to the dataset; give each round its own ``--seed``.
The bundle must have been trained for what this collection renders: the same robot, image size and cameras.
"""

from __future__ import annotations

import argparse
import sys

from robostral.commands.arguments import ROBOT_HELP, field_default, positive_int, robot
from robostral.data.collect import CAMERA_OPTIONS, CollectConfig, collect
from robostral.evaluation.actors import PolicyDriver
from robostral.runtime import PolicyRuntime
from sim.camera_input import ROTATIONS, SOURCE_FIELDS, CameraSource
from sim.envs import ENV_IDS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("collect", help="record expert demonstrations into a dataset", description=__doc__)
    parser.add_argument("--out", required=True, metavar="DIR", help="dataset directory (created, or resumed)")
    parser.add_argument("--robot", default=CollectConfig.robot, type=robot, help=ROBOT_HELP)
    parser.add_argument("--tasks", type=_tasks, default=CollectConfig.tasks,
                        help=f"comma-separated, from {','.join(ENV_IDS)} (chain: one link of a chain per episode)")
    parser.add_argument("--episodes", type=positive_int, required=True, help="successful episodes to keep per task")
    parser.add_argument("--seed", type=int, default=CollectConfig.seed, help="first seed of every task's seed stream")
    parser.add_argument("--workers", type=positive_int, default=field_default(CollectConfig, "workers"),
                        help="worker processes (default: %(default)s, one per CPU core)")
    parser.add_argument("--image-size", type=positive_int, default=CollectConfig.image_size,
                        help="camera image size in pixels")
    parser.add_argument("--wrist", action="store_true", help="also record the wrist camera")
    for option in CAMERA_OPTIONS.values():
        camera = option.removeprefix("--").replace("-", " ")
        parser.add_argument(f"{option}-resolution", type=_resolution, metavar="WxH",
                            help=f"render the {camera} at the real camera's frame size, e.g. 640x480, then crop "
                                 "(default: rendered at the image size, square)")
        parser.add_argument(f"{option}-crop", type=int, nargs=4, metavar=("X", "Y", "W", "H"),
                            help=f"the square of the {camera}'s frame the policy sees, in its pixels "
                                 "(the policy node's crop)")
        parser.add_argument(f"{option}-rotate", type=int, choices=ROTATIONS, default=0, metavar="DEG",
                            help=f"turn the {camera}'s crop clockwise, degrees: {', '.join(map(str, ROTATIONS))}")
        parser.add_argument(f"{option}-mirror", action="store_true", help=f"flip the {camera}'s image left-right")
    parser.add_argument("--level", type=float, default=CollectConfig.level,
                        help="domain randomization level (0 = nominal)")
    parser.add_argument("--perturbation", type=float, default=CollectConfig.perturbation, metavar="RAD",
                        help="std of noise bursts on the executed arm targets, so demos show recoveries (DART)")
    parser.add_argument("--settle-steps", type=int, default=CollectConfig.settle_steps, metavar="N",
                        help="steps recorded after each success while the expert holds its goal")
    parser.add_argument("--flush-every", type=positive_int, default=CollectConfig.flush_every,
                        help="episodes written per flush")
    parser.add_argument("--max-failures", type=int, default=CollectConfig.max_failures,
                        help="failed seeds per task before giving up (default: max(10, episodes))")
    parser.add_argument("--dagger", metavar="BUNDLE",
                        help="DAgger: this policy bundle drives and the expert labels what it visits; every episode "
                             "is kept, --episodes per task from --seed (give each round its own seeds)")
    parser.set_defaults(run=run)


def _tasks(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [t for t in names if t not in ENV_IDS]
    if unknown or not names:
        given = ",".join(unknown) or repr(text)
        raise argparse.ArgumentTypeError(f"unknown task(s) {given}; known: {','.join(ENV_IDS)}")
    return names


def _resolution(text: str) -> tuple[int, int]:
    """``640x480``: width and height in pixels."""
    try:
        width, height = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels, e.g. 640x480; got {text!r}") from None
    return width, height


def camera_source(args: argparse.Namespace, option: str) -> CameraSource | None:
    """The source the ``option`` (``--camera``...) options give; None when none is given (rendered square)."""
    name = option.removeprefix("--").replace("-", "_")
    resolution, crop, rotate, mirror = (getattr(args, f"{name}_{key}") for key in ("resolution", "crop", "rotate",
                                                                                    "mirror"))
    if resolution is None and crop is None and not rotate and not mirror:
        return None
    width, height = resolution or (args.image_size, args.image_size)
    try:
        return CameraSource(width=width, height=height, crop=None if crop is None else tuple(crop), rotate=rotate,
                            mirror=mirror)
    except ValueError as error:
        raise ValueError(f"{option}-resolution/-crop: {error}") from None


def check_dagger_bundle(config: CollectConfig) -> None:
    """Refuse a bundle that is not one, or that was trained for another robot or other camera images than
    this collection renders (its actions or inputs would mean something else)."""
    card = PolicyRuntime(config.dagger).card  # a damaged or tampered bundle is refused here
    problems = []
    if card.robot != config.robot:
        problems.append(f"it drives a {card.robot}, this collection a {config.robot}")
    if card.image_shape[0] != config.image_size:
        problems.append(f"it takes {card.image_shape[0]}-pixel images: --image-size {card.image_shape[0]}")
    for name in card.cameras:
        rendered = getattr(config, SOURCE_FIELDS[name]) or CameraSource.direct(config.image_size)
        if name != "image" and not config.wrist:
            problems.append(f"it takes the {name} camera: add --wrist")
        elif card.camera_input(name) != rendered:
            problems.append(f"its {name} input is {card.camera_input(name)}, this collection renders {rendered}")
    if problems:
        raise ValueError(f"--dagger {config.dagger}: {'; '.join(problems)}")


def run(args: argparse.Namespace) -> int:
    config = CollectConfig(
        out=args.out, robot=args.robot, tasks=args.tasks, episodes=args.episodes, seed=args.seed,
        workers=args.workers, image_size=args.image_size, wrist=args.wrist, level=args.level,
        perturbation=args.perturbation, settle_steps=args.settle_steps,
        flush_every=args.flush_every, max_failures=args.max_failures, dagger=args.dagger,
        **{name: camera_source(args, option) for name, option in CAMERA_OPTIONS.items()},
    )
    if config.dagger is not None:
        check_dagger_bundle(config)
    try:
        report = collect(config, make_driver=PolicyDriver)
    except RuntimeError as error:  # a worker failed or died; what was finished is saved
        print(f"robostral collect: error: {error}", file=sys.stderr)
        return 1
    if report.removed_strays:
        print(f"removed {len(report.removed_strays)} unfinished file(s) an interrupted run left: "
              f"{', '.join(report.removed_strays)}")
    wanted = config.episodes * len(config.tasks)
    if not report.kept and not report.discarded and not report.interrupted and not report.incomplete:
        print(f"nothing to do: all {wanted} episodes ({','.join(config.tasks)} x {config.episodes}) "
              f"are already in {config.out}")
        return 0
    rate = report.kept / report.seconds if report.seconds else 0.0
    if config.dagger is not None:
        print(f"DAgger: the policy reached the goal in {report.succeeded} of the {report.kept} episodes it drove")
    print(f"kept {report.kept} episodes ({report.frames} frames), discarded {report.discarded} failed, "
          f"skipped {report.skipped} already present; {report.seconds:.1f} s, {rate:.2f} episodes/s")
    print(f"{config.out}: {report.total_episodes} episodes")
    if report.interrupted:
        print("interrupted: every finished episode is saved; run the same command again to resume")
        return 130
    if report.incomplete:
        short = ", ".join(f"{task} short by {n}" for task, n in report.incomplete.items())
        print(f"incomplete: {short} after {config.failure_budget} failed seeds per task")
        return 1
    return 0
