"""The simulator renders a camera as the cell's camera delivers it, then crops, turns and resizes it as the
policy node does (``EnvConfig.camera_source``); a spec that cannot be is refused when the config loads."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NOMINAL, hold

from sim.camera_input import CameraSource
from sim.config import from_yaml
from sim.env import EnvConfig

SQUARE = CameraSource(width=480, height=480)
WIDE = CameraSource(width=640, height=480, crop=(80, 0, 480, 480))  # the middle square of a 4:3 camera


def _images(env, seed: int = 3, steps: int = 3) -> list[np.ndarray]:
    """The front and wrist images after a reset and after each of ``steps`` steps holding still."""
    observation, _ = env.reset(seed=seed)
    frames = [observation["image"], observation["wrist_image"]]
    for _ in range(steps):
        observation, *_ = env.step(hold(env))
        frames += [observation["image"], observation["wrist_image"]]
    return frames


def test_the_middle_of_a_wider_frame_shows_what_a_square_frame_of_its_height_does(make_env):
    """The mount's field of view is vertical: a 640x480 frame cropped to its middle 480 square is the 480x480
    picture, for both cameras, after the area resize to the policy's 96."""
    config = {"image_size": 96, "wrist_camera": True, "randomization": NOMINAL}
    wide = _images(make_env("pick_place", camera_source=WIDE, wrist_camera_source=WIDE, **config))
    square = _images(make_env("pick_place", camera_source=SQUARE, wrist_camera_source=SQUARE, **config))
    direct = _images(make_env("pick_place", **config))
    for a, b, c in zip(wide, square, direct):
        assert a.shape == b.shape == (96, 96, 3)
        assert np.abs(a.astype(int) - b).mean() < 0.5  # the same picture (0 here: the pixel grids line up)
        assert np.abs(a.astype(int) - c).mean() < 3  # the same scene as a 96x96 render, less aliased


def test_the_env_crops_turns_and_mirrors_the_rendered_frame_as_camera_input_does(make_env):
    source = CameraSource(width=64, height=48, crop=(16, 0, 48, 48), rotate=90, mirror=True)
    env = make_env("push", image_size=32, camera_source=source, randomization=NOMINAL)
    observation, _ = env.reset(seed=1)
    camera = env.unwrapped.camera
    assert (camera.width, camera.height) == (64, 48)
    frame = camera.render()  # the scene has not moved: the frame the observation was made of
    assert frame.shape == (48, 64, 3)
    np.testing.assert_array_equal(observation["image"], source.apply(frame, 32))
    assert not np.array_equal(observation["image"], CameraSource(width=64, height=48, crop=(16, 0, 48, 48))
                              .apply(frame, 32))  # the turn and mirror were applied
    assert env.observation_space.contains(observation)


def test_without_a_source_each_camera_renders_the_image_size_square_as_before(make_env):
    env = make_env("reach", image_size=32, wrist_camera=True, randomization=NOMINAL)
    base = env.unwrapped
    assert base.config.camera_sources() == {"image": CameraSource.direct(32), "wrist_image": CameraSource.direct(32)}
    assert (base.camera.width, base.camera.height, base.wrist_camera.width) == (32, 32, 32)
    observation, _ = env.reset(seed=0)
    np.testing.assert_array_equal(observation["image"], base.camera.render())
    assert make_env("reach", image_size=0, camera_source=WIDE).unwrapped.config.camera_sources() == {}


@pytest.mark.parametrize(("text", "message"), [
    ("camera_source: {width: 640, height: 480, crop: [600, 0, 480, 480]}",
     r"EnvConfig.camera_source: crop \[600, 0, 480, 480\] \(x, y, width, height\) does not fit the 640x480 frame"),
    ("camera_source: {width: 640, height: 480, crop: [0, 0, 640, 400]}",
     r"EnvConfig.camera_source: crop \[0, 0, 640, 400\] is 640 wide and 400 high, not square"),
    ("camera_source: {width: 640, height: 480}",
     r"EnvConfig.camera_source: the 640x480 frame .* not square: give a square crop of it, e.g. \[80, 0, 480, 480\]"),
    ("wrist_camera: true\nwrist_camera_source: {width: 480, height: 480, rotate: 45}",
     r"EnvConfig.wrist_camera_source: rotate must be one of \(0, 90, 180, 270\) degrees, got 45"),
    ("camera_source: {width: 480, height: 480, crop: [0, 0, 10.5, 10]}", r"EnvConfig.camera_source: CameraSource.crop"),
    ("camera_source: {width: 0, height: 480}", r"EnvConfig.camera_source: width must be a whole number of pixels > 0"),
    ("camera_source: {width: 480, height: 480, fov: 60}",
     r"EnvConfig.camera_source: CameraSource: unknown key\(s\) fov"),
    ("wrist_camera_source: {width: 480, height: 480}", "wrist_camera_source is given, but wrist_camera is off"),
])
def test_a_source_that_cannot_be_is_refused_when_the_config_loads_naming_the_field(tmp_path, text, message):
    path = tmp_path / "env.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError, match=message):
        from_yaml(EnvConfig, path)


def test_a_source_loads_from_yaml_and_describes_itself():
    source = CameraSource(width=1280, height=720, crop=(280, 0, 720, 720), rotate=180, mirror=True)
    assert source.describe() == "1280x720 frame, crop [280, 0, 720, 720], turned 180 deg clockwise, mirrored"
    assert CameraSource(**source.as_dict()) == source and list(source.as_dict())[:2] == ["width", "height"]
    assert source.middle_square == (280, 0, 720, 720)
