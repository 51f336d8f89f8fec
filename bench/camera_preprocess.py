"""Camera preprocessing: a real camera's frame to the policy's 96x96 input, as the policy node does it.

Each contender is one ``sensor_msgs/Image`` as a driver publishes it, taken through what the policy
node runs per frame (``frame_from_msg``, then ``CameraInput.apply``: crop to the middle square, area
resize, channels to RGB), on one thread (the policy node's). Rounds interleave the contenders so that a
noisy machine slows each alike; the table gives the median and the 99th percentile over every frame.
Goal: p50 under 1 ms for a raw 1280x720 bgr8 frame.

    .venv/bin/python bench/camera_preprocess.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section, verdict  # noqa: E402
from robostral.markdown import table  # noqa: E402
from robostral.ros.messages import ENCODINGS, frame_from_msg  # noqa: E402
from sim.camera_input import CameraInput  # noqa: E402

COMMAND = ".venv/bin/python bench/camera_preprocess.py"
SIZE = 96  # the shipped policy's input
GOAL_MS = 1.0  # p50 of a raw 1280x720 bgr8 frame
GOAL_CONTENDER = "1280x720 bgr8"
CONTENDERS = [(1280, 720, "bgr8"), (1280, 720, "rgb8"), (1280, 720, "rgba8"), (1280, 720, "yuv422_yuy2"),
              (640, 480, "bgr8")]


def camera_frame(width: int, height: int, encoding: str, rng: np.random.Generator) -> Image:
    """A frame of noise in ``encoding``, as a driver publishes it (rows unpadded)."""
    step = ENCODINGS[encoding] * width
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.data = rng.integers(0, 256, height * step, dtype=np.uint8).tobytes()
    return msg


def preprocess(msg: Image, spec: CameraInput) -> np.ndarray:
    frame, bgr = frame_from_msg(msg)
    return spec.apply(frame, SIZE, bgr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (rough figures)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    frames, rounds = (20, 2) if args.quick else (200, 5)
    rng = np.random.default_rng(0)
    contenders = []
    for width, height, encoding in CONTENDERS:
        side = min(width, height)
        spec = CameraInput(crop=((width - side) // 2, (height - side) // 2, side, side))
        contenders.append((f"{width}x{height} {encoding}", camera_frame(width, height, encoding, rng), spec))
    times: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for _, msg, spec in contenders:  # warm up: first calls allocate
        preprocess(msg, spec)
    for _ in range(rounds):
        for name, msg, spec in contenders:
            for _ in range(frames):
                start = time.perf_counter()
                preprocess(msg, spec)
                times[name].append(time.perf_counter() - start)
    rows = []
    for name, _, spec in contenders:
        p50, p99 = (1000 * np.percentile(times[name], q) for q in (50, 99))
        goal = verdict(p50 < GOAL_MS) if name == GOAL_CONTENDER else "-"
        rows.append([name, f"{list(spec.crop)}", f"{p50:.3f}", f"{p99:.3f}", goal])
    body = (f"### Camera preprocessing\n\nA camera's frame to the policy's {SIZE}x{SIZE} RGB input on one thread: "
            f"decode (`frame_from_msg`), crop to the middle square, area resize, channels to RGB "
            f"(`CameraInput.apply`); {frames} frames x {rounds} interleaved rounds each. Goal: p50 under "
            f"{GOAL_MS:g} ms for a raw {GOAL_CONTENDER} frame.\n\n"
            f"{table(['frame', 'crop (x, y, w, h)', 'p50 (ms)', 'p99 (ms)', 'goal'], rows)}\n")
    print(body, flush=True)
    if not args.no_write:
        update_section("camera_preprocess", COMMAND + (" --quick" if args.quick else ""), body)
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
