"""`robostral camera preview` over real DDS (loopback, a domain of its own): a camera publishes, the command says what
it publishes and writes the frame with the crop drawn beside exactly what the policy sees; no frame: it says which
topic it waited on and what the graph offers instead.

The test process is the camera: a 64x48 frame, raw (bgr8) and as a PNG on /compressed, 20 times a second.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
import yaml
from ros_helpers import Probe, RosProcess, next_domain
from sensor_msgs.msg import CompressedImage, Image

from robostral.bundle.card import read_card
from robostral.cli import main
from robostral.ros import contract
from robostral.ros.camera_preview import CROP_COLOUR, GAP
from robostral.ros.messages import image_msg
from sim.camera_input import CameraInput

TOPIC = "/test_camera/image_raw"
FRAME_ID = "test_camera_optical_frame"
Y, X = np.mgrid[0:48, 0:64]
SCENE = np.stack([X * 3, Y * 5, 90 + X - Y], axis=2).astype(np.uint8)  # RGB, a gradient: a turn or crop shows
SHIPPED = "policies/robostral-s-panda"


@pytest.fixture(scope="module")
def camera():
    """The camera on a domain of its own; yields the domain."""
    domain = next_domain()
    probe = Probe(domain, name="test_camera")
    raw = probe.node.create_publisher(Image, TOPIC, contract.IMAGE_QOS)
    compressed = probe.node.create_publisher(CompressedImage, f"{TOPIC}/compressed", contract.IMAGE_QOS)
    png = cv2.imencode(".png", SCENE[:, :, ::-1])[1].tobytes()

    def publish() -> None:
        frame = image_msg(SCENE[:, :, ::-1], probe.node.get_clock().now().to_msg(), FRAME_ID)
        frame.encoding = "bgr8"
        raw.publish(frame)
        compressed.publish(CompressedImage(header=frame.header, format="bgr8; png compressed bgr8", data=png))

    try:
        with probe.every(0.05, publish):
            yield domain
    finally:
        probe.close()


def preview(domain: int, log, *arguments: str) -> tuple[int, str]:
    """`robostral camera preview ARGUMENTS` on ``domain``: (exit status, output)."""
    process = RosProcess([sys.executable, "-m", "robostral.cli", "camera", "preview", *arguments], domain, log)
    process.process.wait(timeout=120)
    return process.stop(), process.output()


@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_the_preview_shows_the_frame_with_its_crop_and_exactly_what_the_policy_sees(camera, tmp_path, transport):
    out = tmp_path / "preview.png"
    spec = ["--crop", "8", "0", "48", "48", "--rotate", "90", "--size", "16"]
    if transport == "compressed":  # the spec from the deployment's parameter file; an option still overrides it
        params = {"policy_node": {"ros__parameters": {"camera_crop": [8, 0, 48, 48], "camera_rotate": 180,
                                                      "camera_transport": "compressed"}}}
        (tmp_path / "cell.yaml").write_text(yaml.safe_dump(params))
        spec = ["--params", str(tmp_path / "cell.yaml"), "--rotate", "90", "--size", "16"]
    status, output = preview(camera, tmp_path / "preview.log", "--topic", TOPIC, *spec, "--frames", "5",
                             "--out", str(out))
    assert status == 0, output
    topic, encoding = ((TOPIC, "bgr8") if transport == "raw" else
                       (f"{TOPIC}/compressed", "bgr8; png compressed bgr8"))
    assert f"{topic}: 64x48 {encoding}, " in output and f"over 5 frames, frame_id '{FRAME_ID}'" in output
    rate = float(output.split(f"{encoding}, ")[1].split(" Hz")[0])
    assert 5 < rate < 80, output  # 20 Hz, on a loaded machine
    assert "the policy sees: crop [8, 0, 48, 48], rotate 90, mirror off -> 16x16" in output
    assert f"wrote {out}: the frame, and beside it the policy's input scaled 3x" in output

    image = cv2.imread(str(out))[:, :, ::-1]
    assert image.shape == (48, 64 + GAP + 48, 3)
    np.testing.assert_array_equal(image[1:47, 9:55], SCENE[1:47, 9:55])  # inside the crop's outline
    assert (image[0, 8:56] == CROP_COLOUR).all() and (image[1:47, 8] == CROP_COLOUR).all()
    seen = CameraInput(crop=(8, 0, 48, 48), rotate=90).apply(SCENE, 16)
    np.testing.assert_array_equal(image[:, 64 + GAP:], np.repeat(np.repeat(seen, 3, axis=0), 3, axis=1))


def test_the_policy_input_size_comes_from_the_bundle_the_parameter_file_names(camera, tmp_path):
    (tmp_path / "cell.yaml").write_text(yaml.safe_dump({"policy_node": {"ros__parameters": {"bundle": SHIPPED}}}))
    size = read_card(SHIPPED).image_size
    status, output = preview(camera, tmp_path / "preview.log", "--topic", TOPIC, "--params",
                             str(tmp_path / "cell.yaml"), "--crop", "16", "0", "48", "48", "--frames", "1",
                             "--out", str(tmp_path / "preview.png"))
    assert status == 0, output
    assert f"-> {size}x{size}" in output and "1 frame: no rate" in output
    assert cv2.imread(str(tmp_path / "preview.png")).shape == (size, 64 + GAP + size, 3)


@pytest.mark.parametrize("arguments, why", [
    (["--topic", "/no_camera/image_raw"],
     "no frame on /no_camera/image_raw (sensor_msgs/msg/Image) within 5 s; its publishers: none; image topics on the "
     f"graph (ROS_DOMAIN_ID, ROS_AUTOMATIC_DISCOVERY_RANGE as set here): {TOPIC} (sensor_msgs/msg/Image), {TOPIC}/"
     "compressed (sensor_msgs/msg/CompressedImage)"),
    (["--topic", f"{TOPIC}/compressed"],  # a raw reader of a compressed topic: the types tell
     f"no frame on {TOPIC}/compressed (sensor_msgs/msg/Image) within 5 s; its publishers: test_camera "
     "(sensor_msgs/msg/CompressedImage)"),
    (["--topic", TOPIC, "--crop", "32", "0", "48", "48"], "crop [32, 0, 48, 48] does not fit a 48x64 image"),
], ids=["no publisher", "another type", "crop outside the frame"])
def test_what_cannot_be_previewed_is_said_clearly(camera, tmp_path, arguments, why):
    status, output = preview(camera, tmp_path / "preview.log", *arguments, "--size", "16", "--timeout", "5",
                             "--out", str(tmp_path / "preview.png"))
    assert status == 2 and f"robostral camera: error: {why}" in output, output
    assert not (tmp_path / "preview.png").exists()


def test_a_preview_without_the_input_size_or_of_an_unknown_camera_is_refused_before_it_listens(capsys):
    assert main(["camera", "preview", "--topic", TOPIC]) == 2
    assert "the policy's input size is needed: --size N, --bundle DIR, or --params" in capsys.readouterr().err
    assert main(["camera", "preview", "--camera", "left", "--size", "16"]) == 2
    assert "--camera must be one of camera, wrist_camera, got 'left'" in capsys.readouterr().err
