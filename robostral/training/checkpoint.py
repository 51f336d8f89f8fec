"""Checkpoints: weights and optimizer state in safetensors, the rest as JSON/YAML, for exact resume.

Layout of ``OUT/checkpoints/step-NNNNNNN/``: ``model.safetensors`` (weights and
normalization buffers), ``optimizer.safetensors`` (AdamW moments), ``state.json``
(step, optimizer hyper-parameters, random generator states, the dataset and its
cameras' ``camera_input``: the frame size and crop they were rendered at) and ``config.yaml``
(policy and training configuration). ``OUT/checkpoints/latest`` names the newest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robostral.policies.robostral_s.configuration import RobostralSConfig
from sim.config import from_dict


def save_checkpoint(out: Path, step: int, model, optimizer, extra_state: dict, train_config) -> Path:
    """Write a checkpoint atomically (a temp folder renamed into place) and mark it latest."""
    root = out / "checkpoints"
    final = root / f"step-{step:07d}"
    tmp = root / f".step-{step:07d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    tensors, groups = _flatten_optimizer(optimizer.state_dict())
    save_file(tensors, tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps({"step": step, "param_groups": groups, **extra_state}, indent=1))
    config = {"policy": dataclasses.asdict(model.config), "train": dataclasses.asdict(train_config)}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    latest_tmp = root / "latest.tmp"
    latest_tmp.write_text(final.name)
    os.replace(latest_tmp, root / "latest")
    return final


def latest_checkpoint(out: Path) -> Path | None:
    marker = out / "checkpoints" / "latest"
    if not marker.exists():
        return None
    return out / "checkpoints" / marker.read_text().strip()


def load_policy_config(checkpoint: Path) -> RobostralSConfig:
    """The configuration of the network the checkpoint holds (its ``config.yaml``'s ``policy`` section)."""
    path = checkpoint / "config.yaml"
    return from_dict(RobostralSConfig, yaml.safe_load(path.read_text())["policy"], source=path)


def load_weights(checkpoint: Path, model) -> None:
    """Load ``model.safetensors`` into ``model``; ValueError if it is unreadable or made for another network."""
    path = checkpoint / "model.safetensors"
    try:
        model.load_state_dict(load_file(path))
    except (SafetensorError, RuntimeError) as error:
        raise ValueError(f"{path}: corrupt, or not the weights of the network in config.yaml ({error})") from None


def load_initial_weights(checkpoint: Path, model) -> list[str]:
    """Start a fresh run from ``checkpoint``'s weights and normalization buffers (see ``initialize_weights``)."""
    path = checkpoint / "model.safetensors"
    try:
        tensors = load_file(path)
    except (SafetensorError, FileNotFoundError) as error:
        raise ValueError(f"{path}: unreadable ({error})") from None
    return initialize_weights(model, tensors, path)


def initialize_weights(model, tensors: dict[str, torch.Tensor], source: Path) -> list[str]:
    """Load ``tensors`` into ``model`` for a fresh run; return the names of the model's tensors they lack.

    Those keep their initialization (a network grown by new parts). A tensor the model has
    wider along its last axis (the inputs of a layer fed a longer instruction embedding, say)
    fills the first entries; the new ones are zero in a parameter, so the grown network
    starts out computing what ``source`` did, and keep their values in a buffer (the
    dataset's normalization statistics). ValueError if ``tensors`` hold names the model
    lacks or any other shape than its own.
    """
    own = model.state_dict()
    parameters = dict(model.named_parameters())
    tensors = {name: _widened(value, own[name], name in parameters) if name in own else value
               for name, value in tensors.items()}
    try:
        result = model.load_state_dict(tensors, strict=False)
    except RuntimeError as error:
        raise ValueError(f"{source}: weights of a network that does not fit this one ({error})") from None
    if result.unexpected_keys:
        raise ValueError(f"{source} holds tensors this network does not have: {', '.join(result.unexpected_keys)}")
    return list(result.missing_keys)


def _widened(value: torch.Tensor, own: torch.Tensor, parameter: bool) -> torch.Tensor:
    """``value`` padded along its last axis to ``own``'s shape, where only that axis is longer in ``own``."""
    if value.ndim == 0 or value.shape[:-1] != own.shape[:-1] or value.shape[-1] >= own.shape[-1]:
        return value  # the same shape, or one load_state_dict refuses
    grown = torch.zeros_like(own) if parameter else own.clone()
    grown[..., : value.shape[-1]] = value
    return grown


def read_state(checkpoint: Path) -> dict:
    """The checkpoint's state.json: step, wall time, command, random generator states."""
    return json.loads((checkpoint / "state.json").read_text())


def load_training_state(checkpoint: Path, model, optimizer) -> dict:
    """Restore weights and optimizer; return state.json (step, generator states...)."""
    load_weights(checkpoint, model)
    state = read_state(checkpoint)
    tensors = load_file(checkpoint / "optimizer.safetensors")
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state["param_groups"]))
    return state


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], list]:
    tensors = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            tensors[f"{index}.{name}"] = torch.as_tensor(value).contiguous()
    return tensors, state_dict["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": groups}
