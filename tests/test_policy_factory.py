"""robostral.policies.factory, and the training options derived from a policy's configuration."""

from __future__ import annotations

import dataclasses

import pytest

from robostral.policies.factory import POLICIES, make_policy, make_policy_config, policy_config_class
from robostral.policies.robostral_s.configuration import RobostralSConfig
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.training.config import PolicyOptions
from sim.config import ConfigError


def test_a_name_picks_the_configuration_and_the_network():
    assert policy_config_class("robostral-s") is RobostralSConfig and RobostralSConfig.name in POLICIES
    config = make_policy_config("robostral-s", state_dim=15, action_dim=8, image_size=32, channels=[8, 16],
                                keypoints=4, hidden_dim=16)
    assert config == RobostralSConfig(state_dim=15, action_dim=8, image_size=32, channels=(8, 16), keypoints=4,
                                      hidden_dim=16)
    model = make_policy(config)
    assert isinstance(model, RobostralS) and model.config is config


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown policy 'robostral-xl'; known policies: robostral-s"):
        make_policy_config("robostral-xl")


def test_policy_options_are_checked_against_their_types():
    with pytest.raises(ConfigError, match=r"RobostralSConfig.dropout must be float, got 'lots'"):
        make_policy_config("robostral-s", state_dim=15, action_dim=8, dropout="lots")
    with pytest.raises(ConfigError, match="RobostralSConfig: unknown key"):
        make_policy_config("robostral-s", state_dim=15, action_dim=8, chanels=(8,))


def test_training_options_are_the_configurations_fields_but_its_shapes():
    shapes = set(RobostralSConfig.shape_fields)
    expected = [(f.name, f.default, f.default_factory) for f in dataclasses.fields(RobostralSConfig)
                if f.name not in shapes]
    assert [(f.name, f.default, f.default_factory) for f in dataclasses.fields(PolicyOptions)] == expected
    assert PolicyOptions.name == RobostralSConfig.name == "robostral-s"
    assert not shapes & set(vars(PolicyOptions()))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"action_mode": "velocity"}, "action_mode must be one of"),
        ({"chunk_size": 0}, "chunk_size must be within 1..100, got 0"),
        ({"dropout": 1.0}, r"dropout must be within \[0, 1\)"),
        ({"fine_keypoints": 4, "channels": (8,)}, "fine_keypoints 4 needs >= 0 and at least two conv blocks"),
        ({"order_rank": 4}, "order_rank 4 needs an order vector"),
    ],
)
def test_training_options_validate_as_the_configuration_does(options, message):
    with pytest.raises(ValueError, match=message):
        PolicyOptions(**options)
    with pytest.raises(ValueError, match=message):
        RobostralSConfig(state_dim=15, action_dim=8, **options)
    assert PolicyOptions(channels=[8, 16]).channels == (8, 16)
