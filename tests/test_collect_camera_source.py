"""Each camera's source (frame size, crop, turn, mirror) flows from `robostral collect` into the dataset, the
checkpoint and the bundle's card, and `robostral eval` renders with it; what predates it loads as rendered square."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cards import SHIPPED, make_card
from conftest import tiny_train_config

from robostral.bundle.card import CARD_FILE, BundleError, read_card
from robostral.bundle.model_card import render_model_card
from robostral.cli import build_parser, main
from robostral.commands.collect import camera_source
from robostral.data import DatasetError, load_dataset
from robostral.data.collect import CAMERA_OPTIONS, CollectConfig, collect
from robostral.data.layout import INFO_PATH
from robostral.evaluation.rollouts import _make_envs, evaluate_episodes
from robostral.export.bundle import export_bundle
from robostral.runtime import PolicyRuntime
from robostral.training.checkpoint import latest_checkpoint, read_state
from robostral.training.trainer import train
from sim.camera_input import CameraSource

FRONT = CameraSource(width=64, height=48, crop=(8, 0, 48, 48))  # a 4:3 camera, its middle square
WRIST = CameraSource(width=40, height=40, rotate=90, mirror=True)  # mounted turned
CONFIG = CollectConfig(out="", tasks=("reach",), episodes=2, workers=2, image_size=32, wrist=True,
                       camera_source=FRONT, wrist_camera_source=WRIST)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A dataset recorded with both sources, trained 10 steps with a wrist tower, exported."""
    root = tmp_path_factory.mktemp("camera_source")
    paths = {name: root / name for name in ("dataset", "run", "bundle")}
    collect(replace(CONFIG, out=str(paths["dataset"])), progress=False)
    config = tiny_train_config(paths["dataset"], paths["run"], steps=10, log_every=5, eval_every=10,
                               checkpoint_every=10)
    config.policy.wrist_camera = True
    train(config)
    export_bundle(latest_checkpoint(paths["run"]), paths["bundle"], "robostral export (camera source test)")
    return paths


def test_the_sources_go_from_collect_to_the_dataset_checkpoint_and_card(made):
    dataset = load_dataset(made["dataset"])
    assert dataset.camera_sources == {"image": FRONT, "wrist_image": WRIST}
    assert dataset.features["observation.images.front"]["shape"] == [32, 32, 3]
    env_config = dataset.info["robostral"]["env_config"]
    assert env_config["camera_source"] == {"crop": [8, 0, 48, 48], "rotate": 0, "mirror": False, "width": 64,
                                           "height": 48}
    assert "--camera-resolution 64x48 --camera-crop 8 0 48 48" in dataset.info["robostral"]["commands"][0]
    recorded = {"image": FRONT.as_dict(), "wrist_image": WRIST.as_dict()}
    assert read_state(latest_checkpoint(made["run"]))["camera_input"] == recorded

    card = read_card(made["bundle"])
    assert [card.camera_input(name) for name in card.cameras] == [FRONT, WRIST]
    written = yaml.safe_load((made["bundle"] / CARD_FILE).read_text())["inputs"]
    assert {name: written[name]["camera_input"] for name in card.cameras} == recorded
    assert card.image_shape == card.wrist_shape == (32, 32, 3)
    model_card = render_model_card(card)
    assert "rendered as a 64x48 frame, crop [8, 0, 48, 48], area-resized to 32x32" in model_card
    assert "rendered as a 40x40 frame, turned 90 deg clockwise, mirrored, area-resized to 32x32" in model_card


def test_eval_renders_each_camera_as_the_card_records(made):
    runtime = PolicyRuntime(made["bundle"], threads=1)
    envs = _make_envs(runtime, "panda", 1, [0], task="reach")
    config = envs[0].unwrapped.config
    assert (config.camera_source, config.wrist_camera_source, config.image_size) == (FRONT, WRIST, 32)
    assert (envs[0].unwrapped.camera.width, envs[0].unwrapped.camera.height) == (64, 48)
    results = evaluate_episodes(runtime, "reach", "panda", [10_000_000], batch_size=1)
    assert results[0].steps > 0


def test_the_collect_command_line_gives_back_the_same_sources():
    args = build_parser().parse_args(replace(CONFIG, out="ds").command.split()[1:])
    assert {name: camera_source(args, option) for name, option in CAMERA_OPTIONS.items()} == {
        "camera_source": FRONT, "wrist_camera_source": WRIST}
    plain = build_parser().parse_args(["collect", "--out", "ds", "--episodes", "1", "--camera-mirror"])
    assert camera_source(plain, "--camera") == CameraSource(width=96, height=96, mirror=True)  # the image size
    assert camera_source(plain, "--wrist-camera") is None


@pytest.mark.parametrize(("args", "needle"), [
    (["--camera-resolution", "640x480", "--camera-crop", "600", "0", "480", "480"],
     "--camera-resolution/-crop: crop [600, 0, 480, 480] (x, y, width, height) does not fit the 640x480 frame"),
    (["--camera-resolution", "640x480"], "--camera-resolution/-crop: the 640x480 frame (width x height) is not square"),
    (["--wrist-camera-resolution", "640x480", "--wrist-camera-crop", "0", "0", "480", "400"],
     "--wrist-camera-resolution/-crop: crop [0, 0, 480, 400] is 480 wide and 400 high, not square"),
    (["--wrist-camera-mirror"], "wrist_camera_source is given, but wrist_camera is off"),
])
def test_collect_refuses_a_source_that_cannot_be_before_writing_anything(tmp_path, capsys, args, needle):
    assert main(["collect", "--out", str(tmp_path / "ds"), "--episodes", "1", *args]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_a_dataset_is_not_resumed_with_other_sources(made):
    for source in (None, CameraSource(width=64, height=48, crop=(16, 0, 48, 48))):
        with pytest.raises(DatasetError, match="recorded with other env settings .*camera_source"):
            collect(replace(CONFIG, out=str(made["dataset"]), camera_source=source, episodes=3), progress=False)
    assert load_dataset(made["dataset"]).info["total_episodes"] == 2


def test_a_dataset_and_a_card_from_before_the_sources_stand_for_a_square_render(made, tmp_path):
    old = shutil.copytree(made["dataset"], tmp_path / "old")
    info = json.loads((old / INFO_PATH).read_text())
    for name in ("camera_source", "wrist_camera_source"):
        del info["robostral"]["env_config"][name]
    (old / INFO_PATH).write_text(json.dumps(info))
    square = CameraSource.direct(32)
    assert load_dataset(old).camera_sources == {"image": square, "wrist_image": square}

    shipped = read_card(SHIPPED)  # written before camera_input was recorded
    assert "camera_input" not in shipped.inputs["image"]
    assert [shipped.camera_input(name) for name in shipped.cameras] == [CameraSource.direct(96)] * 2
    assert "rendered as" not in render_model_card(shipped)


@pytest.mark.parametrize(("camera_input", "message"), [
    ({"width": 64, "height": 48, "crop": [32, 0, 48, 48]},
     r"inputs.image.camera_input: crop \[32, 0, 48, 48\] .* does not fit the 64x48 frame"),
    ({"width": 64, "height": 48, "rotate": 45, "crop": [0, 0, 48, 48]}, "inputs.image.camera_input: rotate must be"),
    ({"width": 64, "height": 48, "zoom": 2}, r"inputs.image.camera_input: CameraSource: unknown key\(s\) zoom"),
])
def test_a_card_with_a_camera_input_that_cannot_be_is_refused(camera_input, message):
    inputs = read_card(SHIPPED).inputs
    inputs["image"] = {**inputs["image"], "camera_input": camera_input}
    with pytest.raises(BundleError, match=message):
        make_card(inputs=inputs)
