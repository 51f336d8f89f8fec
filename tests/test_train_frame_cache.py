"""The frame cache: decoded once, reused by later runs, never read when stale, truncated or changed; and training
sees the same batches and losses whether the frames come from it, from memory or from PNG."""

from __future__ import annotations

import csv
import json
import re
import shutil

import numpy as np
import pytest
import torch
from conftest import tiny_train_config
from safetensors.torch import load_file

from robostral.cli import build_parser
from robostral.commands.train import build_config
from robostral.data import Dataset, load_dataset
from robostral.data.encoded_images import EncodedImages
from robostral.training import frame_cache
from robostral.training.batches import IMAGE, WRIST_IMAGE
from robostral.training.checkpoint import latest_checkpoint
from robostral.training.frame_cache import CACHE_DIR, cache_folder, camera_frames
from robostral.training.trainer import train

CAMERAS = [IMAGE, WRIST_IMAGE]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Two reach episodes at 32 px with both cameras."""
    from robostral.data.collect import CollectConfig, collect

    root = tmp_path_factory.mktemp("frame-cache") / "dataset"
    collect(CollectConfig(out=str(root), tasks=("reach",), episodes=2, workers=2, image_size=32, wrist=True),
            progress=False)
    return root


@pytest.fixture
def dataset(recorded, tmp_path):
    """A copy of ``recorded`` of the test's own, to cache into and change."""
    shutil.copytree(recorded, tmp_path / "dataset")
    return tmp_path / "dataset"


def decoded(root) -> dict[str, np.ndarray]:
    return load_dataset(root).load_arrays(CAMERAS)


def no_decoding(monkeypatch) -> None:
    """From now on any PNG decode fails the test."""
    def refuse(self, key):
        raise AssertionError(f"{key} decoded, though a valid cache is there")
        yield  # a generator, as the method it stands in for

    monkeypatch.setattr(Dataset, "image_frames", refuse)


def cache_files(root) -> list[str]:
    return sorted(p.relative_to(root / CACHE_DIR).as_posix() for p in (root / CACHE_DIR).rglob("*") if p.is_file())


def test_the_cache_is_decoded_once_then_mapped_by_later_runs(dataset, monkeypatch):
    frames = camera_frames(load_dataset(dataset), CAMERAS, "disk")
    expected = decoded(dataset)
    digest = load_dataset(dataset).hash()
    assert cache_files(dataset) == [f"{digest}/{column}.{ext}" for column in CAMERAS for ext in ("json", "u8")]
    no_decoding(monkeypatch)
    again = camera_frames(load_dataset(dataset), CAMERAS, "disk")
    for column in CAMERAS:
        assert isinstance(again[column], np.memmap) and not again[column].flags.writeable
        np.testing.assert_array_equal(frames[column], expected[column])
        np.testing.assert_array_equal(again[column], expected[column])


def test_every_mode_yields_the_same_frames(dataset, tmp_path):
    expected = decoded(dataset)
    elsewhere = tmp_path / "caches"
    for mode, kind in (("disk", np.memmap), ("memory", np.ndarray), ("off", EncodedImages)):
        frames = camera_frames(load_dataset(dataset), CAMERAS, mode, str(elsewhere))
        for column in CAMERAS:
            assert isinstance(frames[column], kind)
            np.testing.assert_array_equal(frames[column][np.arange(len(expected[column]))], expected[column])
    assert not (dataset / CACHE_DIR).exists()  # frame_cache_dir kept it out of the dataset
    assert (elsewhere / load_dataset(dataset).hash() / f"{IMAGE}.u8").is_file()


def grow(root) -> None:
    """Change the dataset's contents as far as its hash goes (its provenance), leaving it valid."""
    info = root / "meta" / "info.json"
    values = json.loads(info.read_text())
    values["robostral"]["note"] = "changed"
    info.write_text(json.dumps(values))


def test_a_changed_dataset_never_reads_the_cache_of_its_old_contents(dataset, capsys):
    camera_frames(load_dataset(dataset), CAMERAS, "disk")
    old = cache_folder(load_dataset(dataset))
    grow(dataset)
    new = cache_folder(load_dataset(dataset))
    assert new != old
    shutil.copytree(old, new)  # the old contents' cache where the new contents' belongs: refused by its record
    assert frame_cache.open_frame_cache(load_dataset(dataset), IMAGE, new) is None
    assert f"its dataset_hash is '{old.name}', not '{new.name}'" in capsys.readouterr().out
    shutil.rmtree(new)

    frames = camera_frames(load_dataset(dataset), CAMERAS, "disk")
    assert not old.exists() and sorted(p.name for p in (dataset / CACHE_DIR).iterdir()) == [new.name]
    np.testing.assert_array_equal(frames[IMAGE], decoded(dataset)[IMAGE])


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def garble(path) -> None:
    path.with_suffix(".json").write_text("{not json")


@pytest.mark.parametrize(("damage", "needle"), [
    (truncate, r"it holds (\d+) bytes, not the (\d+) of \[\d+, 32, 32, 3\]"),
    (flip_a_byte, "its bytes do not hash as recorded"),
    (garble, "its record is unreadable"),
])
def test_a_damaged_cache_is_detected_and_decoded_again(dataset, capsys, damage, needle):
    camera_frames(load_dataset(dataset), [IMAGE], "disk")
    data = cache_folder(load_dataset(dataset)) / f"{IMAGE}.u8"
    size = data.stat().st_size
    damage(data)
    rebuilt = camera_frames(load_dataset(dataset), [IMAGE], "disk")
    found = re.search(needle, capsys.readouterr().out)
    assert found, needle
    if damage is truncate:
        assert [int(n) for n in found.groups()] == [size - 1, size]
    np.testing.assert_array_equal(rebuilt[IMAGE], decoded(dataset)[IMAGE])
    assert frame_cache.open_frame_cache(load_dataset(dataset), IMAGE, data.parent) is not None  # whole again


def test_an_interrupted_build_leaves_no_cache(dataset, monkeypatch):
    original = Dataset.image_frames

    def interrupted(self, key):
        for row, frame in enumerate(original(self, key)):
            if row == 5:
                raise KeyboardInterrupt
            yield frame

    monkeypatch.setattr(Dataset, "image_frames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        camera_frames(load_dataset(dataset), [IMAGE], "disk")
    assert cache_files(dataset) == []  # neither a record nor a partial file
    monkeypatch.setattr(Dataset, "image_frames", original)
    np.testing.assert_array_equal(camera_frames(load_dataset(dataset), [IMAGE], "disk")[IMAGE],
                                  decoded(dataset)[IMAGE])


def test_without_room_on_the_disk_training_decodes_per_batch(dataset, monkeypatch, capsys):
    monkeypatch.setattr(frame_cache, "SPARE_BYTES", 1 << 60)
    frames = camera_frames(load_dataset(dataset), [IMAGE], "disk")
    assert isinstance(frames[IMAGE], EncodedImages)
    assert f"no frame cache in {cache_folder(load_dataset(dataset))}" in capsys.readouterr().out
    assert cache_files(dataset) == []


def metrics(run) -> list[dict]:
    return list(csv.DictReader((run / "metrics.csv").open()))


def test_training_takes_the_same_steps_whatever_holds_the_frames(dataset, tmp_path):
    runs = {}
    for mode in ("off", "disk", "memory"):
        config = tiny_train_config(dataset, tmp_path / mode, steps=6, log_every=1, eval_every=6, checkpoint_every=6,
                                   frame_cache=mode)
        config.policy.wrist_camera = True
        runs[mode] = train(config)
    weights = {mode: load_file(latest_checkpoint(run) / "model.safetensors") for mode, run in runs.items()}
    losses = {mode: [(row["train_loss"], row["val_loss"]) for row in metrics(run)] for mode, run in runs.items()}
    assert losses["disk"] == losses["off"] == losses["memory"] and len(losses["off"]) == 6
    for name, value in weights["off"].items():
        assert torch.equal(weights["disk"][name], value) and torch.equal(weights["memory"][name], value), name


def test_the_frame_cache_is_chosen_in_the_config_or_on_the_command_line(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("dataset: datasets/x\nframe_cache: memory\nframe_cache_dir: /tmp/a\n")
    parse = build_parser().parse_args
    loaded = build_config(parse(["train", "--config", str(config)]))
    assert (loaded.frame_cache, loaded.frame_cache_dir) == ("memory", "/tmp/a")
    loaded = build_config(parse(["train", "--config", str(config), "--frame-cache", "off", "--frame-cache-dir", "/b"]))
    assert (loaded.frame_cache, loaded.frame_cache_dir) == ("off", "/b")
    default = build_config(parse(["train", "--dataset", "datasets/x"]))
    assert (default.frame_cache, default.frame_cache_dir) == ("disk", "")
