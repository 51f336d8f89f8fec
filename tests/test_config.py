"""sim.config: every YAML value checked against its field's type, errors naming the file, the key and the type."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from robostral.cli import build_parser
from robostral.commands.train import build_config
from robostral.training.config import TrainConfig
from sim.camera import LightConfig
from sim.config import ConfigError, from_dict, from_yaml
from sim.env import EnvConfig


@dataclass
class Inner:
    ratio: float = 0.5
    names: list[str] = field(default_factory=list)


@dataclass
class Outer:
    count: int = 1
    limit: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def load(tmp_path, text: str, cls: type = TrainConfig):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return from_yaml(cls, path)


def test_yaml_1_1_exponents_read_as_strings_are_the_numbers_meant(tmp_path):
    config = load(tmp_path, "lr: 1e-4\nweight_decay: 1e-4\npolicy:\n  dropout: 2e-1\n")
    assert (config.lr, config.weight_decay, config.policy.dropout) == (1e-4, 1e-4, 0.2)
    assert isinstance(config.weight_decay, float)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("lr: fast\n", "TrainConfig.lr must be float, got 'fast' (str)"),
        ("steps: 1.5\n", "TrainConfig.steps must be int, got 1.5 (float)"),
        ("steps: true\n", "TrainConfig.steps must be int, got True (bool)"),
        ("dataset: [a, b]\n", "TrainConfig.dataset must be str, got ['a', 'b'] (list)"),
        ("policy:\n  chunk_size: ten\n", "TrainConfig.policy: PolicyOptions.chunk_size must be int, got 'ten'"),
        ("policy:\n  channels: [8, x]\n", "PolicyOptions.channels must be tuple[int, ...], got [8, 'x'] (list)"),
        ("policy:\n  wrist_camera: 1\n", "PolicyOptions.wrist_camera must be bool, got 1 (int)"),
        ("policy: 3\n", "TrainConfig.policy must be PolicyOptions, got 3 (int)"),
        ("stpes: 10\n", "TrainConfig: unknown key(s) stpes; known keys: batch_size,"),
        ("policy:\n  chanels: [8]\n", "TrainConfig.policy: PolicyOptions: unknown key(s) chanels"),
    ],
)
def test_a_bad_key_or_type_is_named_with_its_file(tmp_path, text, needle):
    with pytest.raises(ConfigError) as error:
        load(tmp_path, text)
    assert str(error.value).startswith(f"{tmp_path / 'config.yaml'}: ")
    assert needle in str(error.value)


def test_nested_sections_are_checked_to_the_item(tmp_path):
    text = "light:\n  light_direction: [1, 0, '0.5']\n  light_ambient: '0.4'\nrandomization:\n  level: 0\n"
    config = load(tmp_path, text, EnvConfig)
    assert config.light == LightConfig(light_direction=[1, 0, 0.5], light_ambient=0.4)
    assert config.randomization.level == 0
    with pytest.raises(ConfigError, match=r"EnvConfig.light: LightConfig.light_direction must be "
                                          r"tuple\[float, float, float\], got \[1, 0\] \(list\)"):
        load(tmp_path, "light:\n  light_direction: [1, 0]\n", EnvConfig)
    with pytest.raises(ConfigError, match=r"EnvConfig.randomization: RandomizationConfig.action_latency must be int"):
        load(tmp_path, "randomization:\n  action_latency: soon\n", EnvConfig)


def test_optional_mapping_and_list_fields():
    values = {"count": "3", "limit": None, "weights": {"a": "1e-3"}, "inner": {"ratio": 1, "names": ["x"]}}
    assert from_dict(Outer, values) == Outer(count=3, weights={"a": 1e-3}, inner=Inner(ratio=1, names=["x"]))
    assert from_dict(Outer, {"limit": 4}).limit == 4
    with pytest.raises(ConfigError, match=r"Outer.limit must be int \| None, got 'many' \(str\)"):
        from_dict(Outer, {"limit": "many"})
    with pytest.raises(ConfigError, match=r"Outer.weights must be dict\[str, float\], got \{'a': 'heavy'\}"):
        from_dict(Outer, {"weights": {"a": "heavy"}})
    with pytest.raises(ConfigError, match=r"Outer.inner: Inner.names must be list\[str\], got \[1\] \(list\)"):
        from_dict(Outer, {"inner": {"names": [1]}})


def test_values_from_code_keep_their_numpy_types():
    config = from_dict(Outer, {"count": np.int64(2), "inner": {"ratio": np.float32(0.25)}})
    assert config.count == 2 and config.inner.ratio == np.float32(0.25)
    assert from_dict(Outer, {"inner": Inner(ratio=0.1)}).inner == Inner(ratio=0.1)


def test_the_train_command_names_the_config_file(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("dataset: d\nweight_decay: 1e-4\nlr: 1e-4\n")
    config = build_config(build_parser().parse_args(["train", "--config", str(path)]))
    assert (config.lr, config.weight_decay) == (1e-4, 1e-4)
    path.write_text("dataset: d\nbatch_size: big\n")
    with pytest.raises(ConfigError, match=f"^{path}: TrainConfig.batch_size must be int, got 'big'"):
        build_config(build_parser().parse_args(["train", "--config", str(path)]))
