"""A policy with a wrist camera: trained, exported and run with a second image, refused without it."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import tiny_train_config
from safetensors.torch import load_file

from robostral.bundle.card import POLICY_FILE, read_card
from robostral.data import load_dataset
from robostral.evaluation.rollouts import evaluate_episodes
from robostral.export.bundle import export_bundle
from robostral.language.runtime import InstructionEncoder
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.runtime import PolicyRuntime
from robostral.training.batches import IMAGE, STATE, WRIST_IMAGE
from robostral.training.checkpoint import latest_checkpoint, load_policy_config, load_weights
from robostral.training.trainer import train
from sim.camera_input import CameraSource


@pytest.fixture(scope="module")
def runtime(wrist_pipeline) -> PolicyRuntime:
    return PolicyRuntime(wrist_pipeline.bundle, threads=1)


@pytest.fixture(scope="module")
def frames(wrist_pipeline) -> dict[str, np.ndarray]:
    data = load_dataset(wrist_pipeline.dataset)
    arrays = data.load_arrays([IMAGE, WRIST_IMAGE, STATE, "task_index"])
    language = InstructionEncoder(wrist_pipeline.bundle).encode_batch(data.tasks)[arrays["task_index"]]
    return {"image": arrays[IMAGE], "state": arrays[STATE], "language": language, "wrist_image": arrays[WRIST_IMAGE]}


def test_the_bundle_declares_and_takes_the_wrist_image_with_parity(wrist_pipeline, runtime, frames):
    card = read_card(wrist_pipeline.bundle)
    assert card.inputs["wrist_image"] == {"dtype": "uint8", "shape": ["batch", 32, 32, 3], "camera": "wrist, RGB",
                                          "camera_input": CameraSource.direct(32).as_dict()}  # rendered at 32x32
    assert card.wrist_shape == (32, 32, 3) and card.network["wrist_camera"] is True
    assert card.export["parity"]["max_abs"] <= 1e-4
    session = ort.InferenceSession(str(wrist_pipeline.bundle / POLICY_FILE), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "state", "condition", "wrist_image"]
    assert runtime.wrist_shape == (32, 32, 3)

    checkpoint = latest_checkpoint(wrist_pipeline.run)
    model = RobostralS(load_policy_config(checkpoint))
    load_weights(checkpoint, model)
    model.eval()
    with torch.no_grad():
        expected = model(*(torch.from_numpy(frames[k]) for k in ("image", "state", "language", "wrist_image")))
    got = runtime.predict_chunks(frames["image"], frames["state"], frames["language"], frames["wrist_image"])
    assert np.abs(got - expected.numpy()).max() <= 1e-4
    # The wrist tower is trained (its head weights left zero) and what it sees moves the actions.
    assert load_file(checkpoint / "model.safetensors")["wrist_to_hidden.weight"].abs().max() > 0
    dark = runtime.predict_chunks(frames["image"], frames["state"], frames["language"], frames["wrist_image"] // 4)
    assert np.abs(dark - got).max() > 1e-4


def test_the_wrist_normalization_comes_from_the_dataset(wrist_pipeline):
    weights = load_file(latest_checkpoint(wrist_pipeline.run) / "model.safetensors")
    stats = load_dataset(wrist_pipeline.dataset).stats[WRIST_IMAGE]
    torch.testing.assert_close(weights["wrist_image_mean"], torch.tensor(stats["mean"]).reshape(3).float())
    torch.testing.assert_close(weights["wrist_image_std"], torch.tensor(stats["std"]).reshape(3).float())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: {**f, "wrist_image": None}, "this bundle takes a wrist camera image"),
        (lambda f: {**f, "wrist_image": f["wrist_image"][:, :16]}, r"wrist image must be \(batch, 32, 32, 3\)"),
        (lambda f: {**f, "wrist_image": f["wrist_image"].astype(np.float32)}, "wrist image must be uint8 RGB"),
        (lambda f: {**f, "wrist_image": f["wrist_image"][:1]}, "1 wrist images for a batch of 2"),
    ],
)
def test_bad_wrist_images_get_a_clear_error(runtime, frames, change, message):
    inputs = change({k: v[:2] for k, v in frames.items()})
    with pytest.raises(ValueError, match=message):
        runtime.predict_chunks(inputs["image"], inputs["state"], inputs["language"], inputs["wrist_image"])


def test_a_bundle_without_a_wrist_camera_refuses_a_wrist_image(pipeline, frames):
    runtime = PolicyRuntime(pipeline.bundle, threads=1)
    assert runtime.wrist_shape is None
    with pytest.raises(ValueError, match="this bundle has no wrist camera: pass no wrist image"):
        runtime.predict_chunks(frames["image"][:1], frames["state"][:1], frames["language"][:1],
                               frames["wrist_image"][:1])


def test_eval_renders_the_wrist_camera_for_a_bundle_that_takes_one(runtime):
    results = evaluate_episodes(runtime, "reach", "panda", [10_000_000, 10_000_001], batch_size=2)
    assert [r.seed for r in results] == [10_000_000, 10_000_001]
    assert all(r.steps > 0 for r in results)


def test_a_wrist_network_without_wrist_images_is_refused(pipeline, wrist_pipeline, tmp_path):
    config = tiny_train_config(pipeline.dataset, tmp_path / "run")
    config.policy.wrist_camera = True
    refused = "has no wrist camera images, which a policy with wrist_camera takes .record one with `robostral collect"
    with pytest.raises(ValueError, match=refused):
        train(config)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=refused):
        export_bundle(latest_checkpoint(wrist_pipeline.run), tmp_path / "bundle", "test", dataset=pipeline.dataset)
    assert not (tmp_path / "bundle").exists()
