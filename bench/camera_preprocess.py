"""Camera preprocessing: a real camera's frame to the policy's 96x96 input, as the policy node does it.

Each contender is one ``sensor_msgs/Image`` as a driver publishes it, or one ``CompressedImage`` (JPEG
at quality 90, as image_transport's compressed plugin sends by default), taken through what the policy
node runs per frame (its transport's decoder: ``frame_from_msg`` or ``frame_from_compressed``, then
``CameraInput.apply``: crop to the middle square, area resize, channels to RGB), on one thread (the
policy node's). Raw frames are noise; the JPEG is of a smooth scene with a little sensor noise (noise
alone would be a JPEG three times a camera's, and slower to decode). Rounds interleave the contenders
so that a noisy machine slows each alike; the table gives the median, 95th and 99th percentiles over
every frame. Goal: p50 under 1 ms for a raw 1280x720 bgr8 frame; the JPEG's decode is reported only.

    .venv/bin/python bench/camera_preprocess.py [--quick] [--no-write]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, installed or not

from robostral.benchmarks.publish import update_section, verdict  # noqa: E402
from robostral.markdown import table  # noqa: E402
from robostral.ros.messages import ENCODINGS, TRANSPORTS  # noqa: E402
from sim.camera_input import CameraInput  # noqa: E402

COMMAND = ".venv/bin/python bench/camera_preprocess.py"
SIZE = 96  # the shipped policy's input
GOAL_MS = 1.0  # p50 of a raw 1280x720 bgr8 frame
GOAL_CONTENDER = "1280x720 bgr8"
JPEG_QUALITY = 90  # image_transport's compressed plugin's default
CONTENDERS = [(1280, 720, "bgr8"), (1280, 720, "rgb8"), (1280, 720, "rgba8"), (1280, 720, "yuv422_yuy2"),
              (640, 480, "bgr8"), (1280, 720, "jpeg")]


def camera_frame(width: int, height: int, encoding: str, rng: np.random.Generator) -> Image | CompressedImage:
    """A frame in ``encoding`` as a driver publishes it: noise (rows unpadded), or a JPEG of a scene."""
    if encoding == "jpeg":
        return jpeg_frame(width, height, rng)
    step = ENCODINGS[encoding] * width
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    msg.data = rng.integers(0, 256, height * step, dtype=np.uint8).tobytes()
    return msg


def jpeg_frame(width: int, height: int, rng: np.random.Generator) -> CompressedImage:
    """A JPEG of smooth shading and a few sharp-edged blocks under sensor noise (sigma 3): a camera's scene."""
    y, x = np.mgrid[0:height, 0:width]
    scene = np.stack([x * 200 // width, y * 200 // height, (x + y) * 100 // (width + height) + 50], axis=2)
    for _ in range(12):
        left, top = int(rng.integers(0, width - 100)), int(rng.integers(0, height - 100))
        scene[top:top + 100, left:left + 100] = rng.integers(0, 256, 3)
    noisy = np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)
    _, data = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    msg = CompressedImage(format="bgr8; jpeg compressed bgr8")
    msg.data = data.tobytes()
    return msg


def preprocess(msg: Image | CompressedImage, spec: CameraInput) -> np.ndarray:
    transport = TRANSPORTS["compressed" if isinstance(msg, CompressedImage) else "raw"]
    frame, bgr = transport.decode(msg)
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
        msg = camera_frame(width, height, encoding, rng)
        name = f"{width}x{height} {encoding}"
        if encoding == "jpeg":
            name += f" q{JPEG_QUALITY} ({len(msg.data) // 1024} KiB)"
        contenders.append((name, msg, spec))
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
        p50, p95, p99 = (1000 * np.percentile(times[name], q) for q in (50, 95, 99))
        goal = verdict(p50 < GOAL_MS) if name == GOAL_CONTENDER else "-"
        rows.append([name, f"{list(spec.crop)}", f"{p50:.3f}", f"{p95:.3f}", f"{p99:.3f}", goal])
    body = (f"### Camera preprocessing\n\nA camera's frame to the policy's {SIZE}x{SIZE} RGB input on one thread: "
            f"decode (`frame_from_msg`, or `frame_from_compressed` for a JPEG of a scene at quality {JPEG_QUALITY}), "
            f"crop to the middle square, area resize, channels to RGB (`CameraInput.apply`); {frames} frames x "
            f"{rounds} interleaved rounds each. Goal: p50 under {GOAL_MS:g} ms for a raw {GOAL_CONTENDER} frame; "
            f"the JPEG's decode is reported, with no goal.\n\n"
            f"{table(['frame', 'crop (x, y, w, h)', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'goal'], rows)}\n")
    print(body, flush=True)
    if not args.no_write:
        update_section("camera_preprocess", COMMAND + (" --quick" if args.quick else ""), body)
        print("wrote BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
