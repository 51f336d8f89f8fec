"""``card.yaml``: what a bundle is, how it was made, how it scored, and the sha256 of every file.

The card is the bundle's contract with every runtime: input and output names and
shapes, the robot's joints and limits, the control rate and chunk size. A
runtime recomputes each listed file's sha256 and refuses the bundle on any
mismatch; a signature (``card.sig``) over the card's bytes covers the files too.
``Card`` is the parsed card, every top-level key typed and checked on reading;
what code derives from it (image size, wrist camera, pooling, gate) is a named
property, so no caller looks keys up. This module imports neither torch nor onnx:
deployments read cards.

Each camera input records its ``camera_input`` (``sim.camera_input.CameraSource``): the frame size the
simulator rendered and the crop, turn and mirror that made the input of it. A card from before it was
recorded stands for frames rendered at the input's size, used as they are.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from robostral.digest import sha256_file  # noqa: F401 (part of this module's API: every file the card lists)
from sim.camera_input import CameraSource
from sim.config import from_dict

CARD_FILE = "card.yaml"
SIGNATURE_FILE = "card.sig"
POLICY_FILE = "policy.onnx"
POLICY_INT8_FILE = "policy_int8.onnx"
ENCODER_FILE = "encoder.onnx"  # the instruction encoder (robostral.language)
TOKENIZER_FILE = "tokenizer.json"
INSTRUCTION_FILE = "instruction.onnx"  # the instruction head: embedding -> condition, once per instruction
FORMAT = "robostral-policy-bundle/2"
# Format 1: one policy graph that took the instruction's embedding at every step. Its weights can still be
# read (``robostral policies upgrade`` splits it; ``train --init-from`` starts from it); nothing runs it.
PREVIOUS_FORMAT = "robostral-policy-bundle/1"
POLICY_INPUTS = ("image", "state", "language")  # a bundle's inputs, in the network's order
WRIST_INPUT = "wrist_image"  # after them, for a network with a wrist camera
CONDITION = "condition"  # the instruction head's output; policy.onnx takes it in place of ``language``
CAMERA_INPUT = "camera_input"  # the key of an image input's CameraSource
OPTIONAL_KEYS = ("lineage", "recipe", "failure_analysis", "limitations", "license")  # left out of the file when None


class BundleError(ValueError):
    """A bundle that must not run: missing, tampered, incomplete or inconsistent."""


@dataclass
class JointLimits:
    """Per joint, in ``joint_names`` order: position bounds (rad, or the gripper's units) and speed (per s)."""

    lower: list[float]
    upper: list[float]
    velocity: list[float]


@dataclass
class Card:
    """A bundle's ``card.yaml``, its keys in the file's order.

    ``robostral export`` writes every key up to ``files`` (``evaluation`` None until
    ``robostral eval`` fills it in); the optional keys after it are filled in by
    whoever trained the bundle, for the model card (see ``robostral.bundle.model_card``).
    """

    format: str
    name: str
    policy: str  # the architecture, e.g. robostral-s
    robot: str
    joint_names: list[str]
    joint_limits: JointLimits
    control_hz: float
    chunk_size: int  # actions per predicted chunk
    inputs: dict[str, dict[str, Any]]  # graph input name -> dtype, shape (batch first) and notes
    outputs: dict[str, dict[str, Any]]
    encoder: dict[str, Any]  # the instruction encoder: files, model, pooling
    # The instruction head (format 2; None in format 1): its file, ``language`` in, ``condition`` out and its shape.
    instruction_head: dict[str, Any] | None
    network: dict[str, Any]  # the network's settings and its trainable_parameters
    training: dict[str, Any]  # dataset, command, steps, wall time of the last training stage
    export: dict[str, Any]  # command, ONNX parity, batch-1 latency, the int8 variant it vouches for, versions
    evaluation: dict[str, Any] | None  # what `robostral eval` recorded (robostral.evaluation.evaluate.card_evaluation)
    gate: dict[str, Any] | None  # the gate `robostral policies promote` judges (robostral.bundle.gate)
    files: dict[str, str]  # file name -> sha256
    lineage: list[dict[str, Any]] | None = None
    recipe: dict[str, Any] | None = None  # the recipe stages that made it, with their time (robostral.recipe)
    failure_analysis: list[dict[str, Any]] | None = None
    limitations: list[str] | None = None
    license: str | None = None  # the model card's; the project's when None

    def __post_init__(self) -> None:
        """Refuse what the types cannot say: another format, an input without its shape, limits for other joints."""
        if self.format not in (FORMAT, PREVIOUS_FORMAT):
            raise ValueError(f"expected format {FORMAT!r}, got {self.format!r}")
        if (self.instruction_head is None) == (self.format == FORMAT):
            raise ValueError(f"a card of format {self.format!r} {'needs' if self.format == FORMAT else 'has no'} "
                             "instruction_head")
        if self.instruction_head is not None and len(self.instruction_head.get("shape") or ()) != 2:
            raise ValueError("instruction_head has no (batch, width) shape")
        names = (*POLICY_INPUTS, *([WRIST_INPUT] if WRIST_INPUT in self.inputs else []))
        unshaped = [name for name in names if len((self.inputs.get(name) or {}).get("shape") or ()) < 2]
        if unshaped:
            raise ValueError(f"inputs has no (batch, ...) shape for {', '.join(unshaped)}")
        for key, values in dataclasses.asdict(self.joint_limits).items():
            if len(values) != len(self.joint_names):
                raise ValueError(f"joint_limits.{key} has {len(values)} values for {len(self.joint_names)} joints")
        for name in self.cameras:
            try:
                self.camera_input(name)
            except ValueError as error:
                raise ValueError(f"inputs.{name}.{CAMERA_INPUT}: {error}") from None

    @classmethod
    def from_dict(cls, values: Any, source: str | os.PathLike = "") -> Card:
        """The card holding ``values`` (a parsed ``card.yaml``); BundleError naming ``source`` and the bad key."""
        found = values.get("format") if isinstance(values, dict) else values
        if found not in (FORMAT, PREVIOUS_FORMAT):
            raise BundleError(f"{source}: expected format {FORMAT!r}, got {found!r}")
        if found == PREVIOUS_FORMAT:  # before the instruction head was a graph of its own
            values = {"instruction_head": None} | values
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.name not in values]
        if missing:
            raise BundleError(f"{source}: an incomplete card, it has no {', '.join(missing)}")
        try:
            return from_dict(cls, values)
        except ValueError as error:  # sim.config.ConfigError names the key and type; __post_init__ what disagrees
            raise BundleError(f"{source}: {error}") from None

    def as_dict(self) -> dict[str, Any]:
        """The card as ``card.yaml`` holds it: every key in order, the optional ones only when set."""
        values = dataclasses.asdict(self)
        return {key: value for key, value in values.items() if value is not None or key not in OPTIONAL_KEYS}

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W, 3) of the front camera's image."""
        return tuple(int(n) for n in self.inputs["image"]["shape"][1:])

    @property
    def image_size(self) -> int:
        """The side in pixels of the square camera images the policy reads."""
        return self.image_shape[0]

    @property
    def wrist_shape(self) -> tuple[int, ...] | None:
        """(H, W, 3) of the wrist camera's image, for a bundle that takes one besides the front's; else None."""
        return tuple(int(n) for n in self.inputs[WRIST_INPUT]["shape"][1:]) if self.wrist_camera else None

    @property
    def wrist_camera(self) -> bool:
        return WRIST_INPUT in self.inputs

    @property
    def cameras(self) -> tuple[str, ...]:
        """The image inputs, front camera first: ``image``, and ``wrist_image`` for a bundle that takes one."""
        return ("image", WRIST_INPUT) if self.wrist_camera else ("image",)

    def camera_input(self, name: str) -> CameraSource:
        """The frame size and crop the simulator made image input ``name`` of (rendered at its size without one)."""
        if name not in self.cameras:
            raise ValueError(f"{name!r} is not a camera input of this bundle ({', '.join(self.cameras)})")
        recorded = self.inputs[name].get(CAMERA_INPUT)
        if recorded is None:
            return CameraSource.direct(int(self.inputs[name]["shape"][1]))
        return from_dict(CameraSource, recorded)

    @property
    def state_dim(self) -> int:
        return int(self.inputs["state"]["shape"][1])

    @property
    def language_dim(self) -> int:
        """The width of the instruction embedding the policy takes (the encoder's output)."""
        return int(self.inputs["language"]["shape"][1])

    @property
    def condition_dim(self) -> int:
        """The width of the instruction head's output, which the policy graph takes."""
        return int(self.instruction_head["shape"][1])

    @property
    def action_dim(self) -> int:
        """One joint target per joint of the robot."""
        return len(self.joint_names)

    @property
    def encoder_pooling(self) -> str:
        """How the encoder pools token states: ``mean`` in cards that predate the key."""
        return self.encoder.get("pooling", "mean")

    @property
    def network_settings(self) -> dict[str, Any]:
        """The network's settings, without the parameter count export measured: what rebuilds it."""
        return {key: value for key, value in self.network.items() if key != "trainable_parameters"}

    @property
    def trainable_parameters(self) -> int | None:
        return self.network.get("trainable_parameters")

    @property
    def gate_name(self) -> str | None:
        """``production``, ``preview``, or None for a card without a gate."""
        return (self.gate or {}).get("name")

    @property
    def int8(self) -> dict[str, Any] | None:
        """What export measured of the int8 variant it vouches for (``export.int8``); None: fp32 only."""
        return self.export.get("int8")

    @property
    def dataset(self) -> str | None:
        """The training dataset's folder, as training saw it."""
        return self.training.get("dataset")


def read_card(bundle: str | os.PathLike) -> Card:
    """The card of a bundle directory; BundleError if it is missing, not a card, or a key is missing or ill-typed."""
    path = Path(bundle) / CARD_FILE
    if not path.is_file():
        raise BundleError(f"{bundle}: no {CARD_FILE}; not a policy bundle")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise BundleError(f"{path}: not valid YAML ({error})") from None
    return Card.from_dict(values, source=path)


def write_card(bundle: str | os.PathLike, card: Card) -> Path:
    """Write ``card.yaml`` atomically (a half-written card would refuse to load, never half-load)."""
    path = Path(bundle) / CARD_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(card.as_dict(), sort_keys=False, width=120))
    os.replace(tmp, path)
    return path


def verify_files(bundle: str | os.PathLike, card: Card) -> None:
    """Recompute the sha256 of every file the card lists; BundleError naming the first problem."""
    if not card.files:
        raise BundleError(f"{bundle}: the card lists no files and hashes")
    for name, expected in card.files.items():
        if Path(name).name != name or name in (".", "..", CARD_FILE, SIGNATURE_FILE):
            raise BundleError(f"{bundle}: the card lists {name!r}, not a file name inside the bundle")
        path = Path(bundle) / name
        if not path.is_file():
            raise BundleError(f"{bundle}: {name} is missing (listed in the card)")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{bundle}: {name} has sha256 {actual[:16]}..., the card says {expected[:16]}...: "
                "tampered or corrupt"
            )
