"""Domain randomization: seeded, inside its configured ranges, scaled by ``level``, applied to the scene."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import yaml
from conftest import NOMINAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import from_dict, from_yaml
from sim.env import TABLE_COLOR, EnvConfig
from sim.language import COLORS
from sim.randomization import RandomizationConfig
from sim.tasks.task import CUBE_FRICTION, CUBE_MASS, CUBE_SIZE

RANGES = [f.name for f in dataclasses.fields(RandomizationConfig) if f.name not in ("enabled", "level")]
NUMBERS = [f.name for f in dataclasses.fields(RandomizationConfig) if f.name != "enabled"]

seeds = st.integers(0, 2**32 - 1)
levels = st.floats(0.0, 3.0, allow_nan=False)


def bounds(config: RandomizationConfig) -> dict[str, tuple[float, float]]:
    """The interval each scene-wide value must fall in, from the config alone."""
    s = config.scale
    symmetric = {
        "table_color_shift": config.table_color,
        "light_tilt_x": config.light_direction,
        "light_tilt_y": config.light_direction,
        "light_ambient_shift": config.light_ambient,
        "camera_dx": config.camera_position,
        "camera_dy": config.camera_position,
        "camera_dz": config.camera_position,
        "camera_pan": config.camera_angle,
        "camera_tilt": config.camera_angle,
    }
    result = {name: (-span * s, span * s) for name, span in symmetric.items()}
    result["joint_damping"] = (0.0, config.joint_damping * s)
    result["action_latency"] = (0, round(config.action_latency * s))
    result["action_noise"] = (config.action_noise * s, config.action_noise * s)
    return result


# -- sampling ----------------------------------------------------------------------------------


@given(seed=seeds, level=levels)
def test_every_sampled_value_is_inside_its_range_scaled_by_level(seed, level):
    config = RandomizationConfig(level=level)
    values = config.sample(np.random.default_rng(seed))
    limits = bounds(config)
    assert set(values) == set(limits)
    for name, value in values.items():
        low, high = limits[name]
        assert low - 1e-12 <= value <= high + 1e-12, name
    assert isinstance(values["action_latency"], int)


@given(seed=seeds)
def test_same_seed_same_values(seed):
    config = RandomizationConfig()
    assert config.sample(np.random.default_rng(seed)) == config.sample(np.random.default_rng(seed))


def test_different_seeds_give_different_values():
    config = RandomizationConfig()
    samples = [config.sample(np.random.default_rng(seed)) for seed in range(20)]
    for name in ("table_color_shift", "light_tilt_x", "camera_dx", "camera_pan", "joint_damping"):
        assert len({s[name] for s in samples}) == 20, name
    assert {s["action_latency"] for s in samples} == {0, 1, 2}


@given(seed=seeds)
def test_level_two_doubles_every_range(seed):
    one = RandomizationConfig(level=1.0).sample(np.random.default_rng(seed))
    two = RandomizationConfig(level=2.0).sample(np.random.default_rng(seed))
    for name in one:
        if name != "action_latency":
            assert two[name] == pytest.approx(2 * one[name], abs=1e-12), name
    assert bounds(RandomizationConfig(level=2.0))["action_latency"] == (0, 4)


def test_level_two_reaches_beyond_the_level_one_range():
    config = RandomizationConfig(level=2.0)
    samples = [config.sample(np.random.default_rng(seed)) for seed in range(200)]
    assert max(abs(s["camera_dx"]) for s in samples) > RandomizationConfig().camera_position
    assert max(s["action_latency"] for s in samples) > RandomizationConfig().action_latency


@pytest.mark.parametrize("config", [RandomizationConfig(level=0.0), RandomizationConfig(enabled=False, level=2.0)])
def test_level_zero_and_disabled_give_the_nominal_values(config):
    for seed in range(5):
        values = config.sample(np.random.default_rng(seed))
        assert all(v == 0 for v in values.values()), values
        assert values["action_latency"] == 0 and values["action_noise"] == 0.0
        for name in RANGES:
            assert config.jitter(np.random.default_rng(seed), name) == 0.0


# -- in the env --------------------------------------------------------------------------------


def _cube_values(values: dict) -> dict[str, float]:
    return {k: v for k, v in values.items() if k.startswith("cube_")}


def test_env_reports_the_same_values_for_the_same_seed_and_others_for_another(make_env):
    env = make_env("stack", "xarm6")
    first = env.reset(seed=8)[1]["randomization"]
    other = env.reset(seed=9)[1]["randomization"]
    again = env.reset(seed=8)[1]["randomization"]
    fresh = make_env("stack", "xarm6").reset(seed=8)[1]["randomization"]
    assert first == again == fresh
    scene_wide = set(RandomizationConfig().sample(np.random.default_rng(0))) - {"action_latency", "action_noise"}
    assert all(first[k] != other[k] for k in scene_wide)
    assert _cube_values(first) != _cube_values(other)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds, level=st.floats(0.0, 2.5, allow_nan=False))
def test_env_values_are_inside_their_ranges(make_env, seed, level):
    config = RandomizationConfig(level=level)
    env = make_env("stack", "panda", randomization=config)
    _, info = env.reset(seed=seed)
    limits = bounds(config)
    cubes = _cube_values(info["randomization"])
    assert len(cubes) == 9  # three cubes, size, mass and friction each
    for name, value in info["randomization"].items():
        if name in limits:
            assert limits[name][0] - 1e-12 <= value <= limits[name][1] + 1e-12, name
    nominal = {"size": (CUBE_SIZE, config.object_size), "mass": (CUBE_MASS, config.object_mass)}
    nominal["friction"] = (CUBE_FRICTION, config.object_friction)
    for name, value in cubes.items():
        centre, spread = nominal[name.rsplit("_", 1)[1]]
        assert abs(value / centre - 1) <= spread * level + 1e-9, name


def test_the_reported_values_are_the_ones_applied(make_env):
    env = make_env("push", "panda", randomization=RandomizationConfig(level=1.5))
    _, info = env.reset(seed=13)
    values, sim = info["randomization"], env.unwrapped.sim
    for cube in (name for name in env.unwrapped.task.objects if name.startswith("cube_")):
        dynamics = sim.client.getDynamicsInfo(sim.body(cube), -1)
        assert dynamics[0] == pytest.approx(values[f"{cube}_mass"])
        assert dynamics[1] == pytest.approx(values[f"{cube}_friction"])
        half_extents = np.array(sim.client.getCollisionShapeData(sim.body(cube), -1)[0][3]) / 2
        np.testing.assert_allclose(half_extents, values[f"{cube}_size"] / 2, rtol=1e-6)
    table = sim.client.getVisualShapeData(sim.body("table"))[0][7][:3]
    np.testing.assert_allclose(table, np.clip(TABLE_COLOR + values["table_color_shift"], 0, 1), atol=1e-6)


@pytest.mark.parametrize("config", [NOMINAL, RandomizationConfig(level=0.0), {"level": 0}])
def test_nominal_scene_has_nominal_objects(make_env, config):
    env = make_env("stack", "panda", randomization=config)
    _, info = env.reset(seed=17)
    sim = env.unwrapped.sim
    assert all(v == 0 for k, v in info["randomization"].items() if not k.startswith("cube_"))
    for name in env.unwrapped.task.objects:
        assert info["randomization"][f"{name}_size"] == CUBE_SIZE
        assert info["randomization"][f"{name}_mass"] == CUBE_MASS
        assert info["randomization"][f"{name}_friction"] == CUBE_FRICTION
        rgba = sim.client.getVisualShapeData(sim.body(name))[0][7]
        np.testing.assert_allclose(rgba[:3], COLORS[name.split("_")[1]], atol=1e-6)
        assert sim.yaw(name) == pytest.approx(0.0, abs=1e-4)  # settling on the table turns it by micro-radians
    positions = sorted(tuple(sim.position(name)[:2].round(4)) for name in env.unwrapped.task.objects)
    env.reset(seed=18)  # another seed permutes colours and slots, never jitters them
    others = sorted(tuple(sim.position(name)[:2].round(4)) for name in env.unwrapped.task.objects)
    assert positions == others


# -- validation and loading --------------------------------------------------------------------


@given(name=st.sampled_from(NUMBERS), value=st.floats(max_value=-1e-9) | st.just(math.nan) | st.just(math.inf))
def test_negative_nan_and_infinite_values_are_rejected_by_name(name, value):
    if name == "action_latency" and math.isfinite(value):
        value = int(math.floor(value))
    with pytest.raises(ValueError, match=f"RandomizationConfig.{name} "):
        RandomizationConfig(**{name: value})


@pytest.mark.parametrize(
    "values,message",
    [
        ({"action_latency": 1.5}, "action_latency must be an integer"),
        ({"action_latency": 2.0}, "action_latency must be an integer"),
        ({"level": "high"}, "level must be a number"),
        ({"object_size": None}, "object_size must be a number"),
        ({"level": True}, "level must be a number"),
        ({"enabled": "no"}, "enabled must be true or false"),
    ],
)
def test_values_of_the_wrong_type_are_rejected_by_name(values, message):
    with pytest.raises(ValueError, match=message):
        RandomizationConfig(**values)


def test_numpy_numbers_are_accepted():
    config = RandomizationConfig(level=np.float32(0.5), action_latency=np.int64(3), enabled=np.bool_(True))
    assert bounds(config)["action_latency"] == (0, 2)


@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            **{name: st.floats(0.0, 10.0) for name in NUMBERS if name != "action_latency"},
            "action_latency": st.integers(0, 10),
            "enabled": st.booleans(),
        },
    )
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_yaml_round_trip(tmp_path, values):
    path = tmp_path / "randomization.yaml"
    path.write_text(yaml.safe_dump(values))
    assert from_yaml(RandomizationConfig, path) == RandomizationConfig(**values)


def test_yaml_unknown_key_is_named(tmp_path):
    path = tmp_path / "randomization.yaml"
    path.write_text("level: 0.5\nobject_colour: 0.1\n")
    with pytest.raises(ValueError, match="unknown key\\(s\\) object_colour; known keys: .*object_color"):
        from_yaml(RandomizationConfig, path)


def test_yaml_bad_value_and_bad_shape_are_errors(tmp_path):
    path = tmp_path / "randomization.yaml"
    path.write_text("level: -1\n")
    with pytest.raises(ValueError, match="RandomizationConfig.level"):
        from_yaml(RandomizationConfig, path)
    path.write_text("- level\n- 0.5\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        from_yaml(RandomizationConfig, path)
    path.write_text("")
    assert from_yaml(RandomizationConfig, path) == RandomizationConfig()


def test_env_config_yaml_with_nested_sections(tmp_path, make_env):
    path = tmp_path / "env.yaml"
    path.write_text("image_size: 32\nrandomization:\n  level: 0.0\nlight:\n  light_ambient: 0.4\n")
    config = from_yaml(EnvConfig, path)
    assert config.randomization == RandomizationConfig(level=0.0) and config.light.light_ambient == 0.4
    env = make_env("reach", **{field.name: getattr(config, field.name) for field in dataclasses.fields(config)})
    observation, info = env.reset(seed=0)
    assert observation["image"].shape == (32, 32, 3) and info["randomization"]["camera_dx"] == 0.0
    path.write_text("randomization:\n  levle: 0.0\n")
    with pytest.raises(ValueError, match="EnvConfig.randomization: .*unknown key\\(s\\) levle"):
        from_yaml(EnvConfig, path)


def test_env_takes_randomization_as_a_mapping(make_env):
    env = make_env("reach", randomization={"level": 0.0, "action_latency": 5})
    assert env.reset(seed=0)[1]["randomization"]["action_latency"] == 0
    with pytest.raises(ValueError, match="levle"):
        make_env("reach", randomization={"levle": 1.0})
    assert from_dict(RandomizationConfig, None) == RandomizationConfig()
