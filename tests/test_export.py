"""`robostral export`: ONNX-torch parity on real frames, the card, a vouched int8, and failures that write nothing."""

from __future__ import annotations

import shutil

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import tiny_train_config
from safetensors.torch import load_file, save_file

from robostral.bundle.card import INSTRUCTION_FILE, POLICY_FILE, POLICY_INT8_FILE, read_card, sha256_file
from robostral.bundle.gate import GATES
from robostral.bundle.model_card import render_model_card
from robostral.cli import main
from robostral.data import load_dataset
from robostral.data.collect import CollectConfig, collect
from robostral.export.bundle import ExportError, export_bundle
from robostral.language.runtime import InstructionEncoder
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.recipe import card_recipe
from robostral.training.batches import IMAGE, STATE
from robostral.training.checkpoint import latest_checkpoint, load_policy_config, load_weights
from robostral.training.trainer import train


def dataset_inputs(dataset, bundle) -> dict[str, np.ndarray]:
    """Every frame of the dataset with its instruction embedded by the bundle's own encoder."""
    data = load_dataset(dataset)
    arrays = data.load_arrays([IMAGE, STATE, "task_index"])
    language = InstructionEncoder(bundle).encode_batch(data.tasks)
    return {"image": arrays[IMAGE], "state": arrays[STATE], "language": language[arrays["task_index"]]}


def torch_actions(checkpoint, inputs) -> np.ndarray:
    model = RobostralS(load_policy_config(checkpoint))
    load_weights(checkpoint, model)
    model.eval()
    with torch.no_grad():
        return model(*(torch.from_numpy(inputs[k]) for k in ("image", "state", "language"))).numpy()


def onnx_actions(graph, inputs) -> np.ndarray:
    """What ``graph`` predicts, its condition from the instruction head beside it, run on its own here."""
    head = ort.InferenceSession(str(graph.parent / INSTRUCTION_FILE), providers=["CPUExecutionProvider"])
    condition = head.run(["condition"], {"language": inputs["language"]})[0]
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    return session.run(["actions"], {k: v for k, v in inputs.items() if k != "language"} | {"condition": condition})[0]


def test_onnx_matches_torch_on_every_dataset_frame(pipeline):
    parity = read_card(pipeline.bundle).export["parity"]
    assert parity["max_abs"] <= parity["tolerance"] == 1e-4
    assert parity["frames"] == 64 and parity["dataset"] == str(pipeline.dataset)

    inputs = dataset_inputs(pipeline.dataset, pipeline.bundle)
    expected = torch_actions(latest_checkpoint(pipeline.run), inputs)
    got = onnx_actions(pipeline.bundle / POLICY_FILE, inputs)
    assert got.shape == (load_dataset(pipeline.dataset).num_frames, 5, 8)
    assert np.abs(got - expected).max() <= 1e-4
    assert expected.std(axis=0).max() > 1e-3  # the frames differ, so agreeing means something


def test_card_describes_the_bundle(pipeline):
    card = read_card(pipeline.bundle)
    data = load_dataset(pipeline.dataset)
    files = sorted(p.name for p in pipeline.bundle.iterdir() if p.name not in ("card.yaml", "README.md"))
    assert files == ["encoder.onnx", INSTRUCTION_FILE, POLICY_FILE, POLICY_INT8_FILE, "tokenizer.json"]
    assert card.files == {name: sha256_file(pipeline.bundle / name) for name in files}
    assert (pipeline.bundle / "README.md").read_text() == render_model_card(card)  # the card for people

    assert card.robot == data.robot == "panda"
    assert card.joint_names == data.joint_names and len(card.joint_names) == 8
    assert all(len(limits) == 8 for limits in vars(card.joint_limits).values())
    assert card.control_hz == data.fps and card.chunk_size == 5
    assert card.training["dataset_hash"] == data.hash()
    assert (card.training["steps"], card.training["dataset_frames"]) == (60, data.num_frames)
    assert card.export["command"] == "robostral export (tests/conftest.py pipeline)"
    assert card.evaluation is None and card.gate == GATES["production"]
    assert 0 < card.trainable_parameters < 15_000_000

    # The per-step graph takes the instruction head's condition in place of the embedding; the head takes that.
    declared = {**card.inputs, **card.outputs, "condition": card.instruction_head}
    graphs = {POLICY_FILE: ["image", "state", "condition", "actions"], INSTRUCTION_FILE: ["language", "condition"]}
    for name, values in graphs.items():
        session = ort.InferenceSession(str(pipeline.bundle / name), providers=["CPUExecutionProvider"])
        assert [value.name for value in [*session.get_inputs(), *session.get_outputs()]] == values
        for value in [*session.get_inputs(), *session.get_outputs()]:
            shape = declared[value.name]["shape"]
            assert isinstance(value.shape[0], str) and shape[0] == "batch"  # the batch dimension is dynamic
            assert value.shape[1:] == shape[1:], value.name
            assert value.type == f"tensor({declared[value.name]['dtype'].replace('float32', 'float')})"
    assert card.instruction_head["file"] == INSTRUCTION_FILE and INSTRUCTION_FILE in card.files
    assert card.outputs["actions"]["shape"] == ["batch", 5, 8]


def test_int8_variant_is_vouched_for_with_its_parity_and_speed(pipeline):
    card = read_card(pipeline.bundle)
    vouched = card.int8  # measured on frames the calibration did not see
    speed = card.export["latency_batch1"]
    for variant in ("fp32_ms", "int8_ms"):
        assert 0 < speed[variant]["p50"] <= speed[variant]["p99"]
    assert vouched == {"file": POLICY_INT8_FILE, "vouched": True, "max_abs": vouched["max_abs"], "bound": 1.0,
                       "speedup": speed["fp32_ms"]["p50"] / speed["int8_ms"]["p50"], "min_speedup": 0.0, "frames": 64}
    assert "int8_max_abs" not in card.export["parity"]

    inputs = dataset_inputs(pipeline.dataset, pipeline.bundle)
    error = np.abs(onnx_actions(pipeline.bundle / POLICY_INT8_FILE, inputs) - torch_actions(
        latest_checkpoint(pipeline.run), inputs)).max()
    assert 0 < vouched["max_abs"] <= error + 1e-5  # the card's frames are some of the dataset's
    assert error < 0.05  # joint units over every frame: quantization costs a little accuracy, not the policy


def test_a_network_grown_by_fine_keypoints_exports_with_parity_and_its_lineage(pipeline, tmp_path):
    source = latest_checkpoint(pipeline.run)
    config = tiny_train_config(pipeline.dataset, tmp_path / "run", steps=10, init_from=str(source))
    config.policy.fine_keypoints = 4
    train(config)
    log = {"recipe": "recipes/grown.yaml", "stages": [
        {"name": "train", "command": "train --config grown.yaml --resume", "ran": "", "wall_s": 60.0, "cpu_s": 90.0,
         "device": "cpu"}]}
    card = export_bundle(latest_checkpoint(tmp_path / "run"), tmp_path / "bundle", "robostral export (test)",
                         recipe=card_recipe(log))

    assert card.export["parity"]["max_abs"] <= 1e-4
    assert card.recipe["stages"][0]["command"] == "train --config grown.yaml --resume" and card.recipe["cpu_s"] == 90
    readme = (tmp_path / "bundle" / "README.md").read_text()  # the model card says how to rebuild it
    assert "`robostral recipe run recipes/grown.yaml`" in readme and "robostral train --config grown.yaml" in readme
    assert card.network["fine_keypoints"] == 4
    assert card.training["steps"] == 10
    assert card.training["initialized_from"]["checkpoint"] == str(source)
    assert card.training["initialized_from"]["steps"] == 60
    inputs = dataset_inputs(pipeline.dataset, tmp_path / "bundle")
    expected = torch_actions(latest_checkpoint(tmp_path / "run"), inputs)
    assert np.abs(onnx_actions(tmp_path / "bundle" / POLICY_FILE, inputs) - expected).max() <= 1e-4


def corrupt_copy(run, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(latest_checkpoint(run), checkpoint)
    return checkpoint


def previous_bundle(pipeline, tmp_path):
    """An earlier export at the output path: a failed export must leave it exactly as it was."""
    out = tmp_path / "out" / "bundle"
    shutil.copytree(pipeline.bundle, out)
    return out, {p.name: sha256_file(p) for p in out.iterdir()}


def test_truncated_weights_are_refused_with_a_clear_error(pipeline, tmp_path, capsys):
    checkpoint = corrupt_copy(pipeline.run, tmp_path)
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    out, before = previous_bundle(pipeline, tmp_path)

    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    assert "model.safetensors: corrupt, or not the weights of the network" in capsys.readouterr().err
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["bundle"]  # no staging folder left behind


def test_nan_weights_fail_the_export_and_write_nothing(pipeline, tmp_path):
    checkpoint = corrupt_copy(pipeline.run, tmp_path)
    weights = load_file(checkpoint / "model.safetensors")
    weights["head.5.bias"][0] = float("nan")
    save_file(weights, checkpoint / "model.safetensors")
    out, before = previous_bundle(pipeline, tmp_path)

    with pytest.raises(ExportError, match="predicts NaN or infinite joint targets"):
        export_bundle(checkpoint, out, "robostral export (nan test)")
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["bundle"]


def test_a_dataset_of_another_camera_size_is_refused(pipeline, tmp_path, capsys):
    other = tmp_path / "dataset-64px"
    collect(CollectConfig(out=str(other), tasks=("reach",), episodes=1, workers=1, image_size=64), progress=False)
    out = tmp_path / "bundle"
    args = ["export", "--checkpoint", str(pipeline.run), "--out", str(out), "--dataset", str(other)]
    assert main(args) == 2
    assert "has (64, 64, 3) images and 15 state values; this policy takes (32, 32, 3) and 15" in capsys.readouterr().err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dataset-64px"]


def test_a_missing_recipe_log_is_refused_before_anything_is_exported(pipeline, tmp_path, capsys):
    args = ["export", "--checkpoint", str(pipeline.run), "--out", str(tmp_path / "b"), "--recipe", "nowhere.json"]
    assert main(args) == 2
    assert "--recipe nowhere.json: no recipe log there" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_export_of_a_missing_checkpoint_is_refused(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "bundle")]) == 2
    assert "neither a checkpoint nor a training run" in capsys.readouterr().err
    assert not (tmp_path / "bundle").exists()
