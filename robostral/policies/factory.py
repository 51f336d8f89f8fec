"""The policy factory: a policy's name picks its configuration class and its network (LeRobot's factory).

A policy is a folder: ``configuration.py`` (a dataclass whose ``name`` ClassVar is its key
here) and ``modeling.py`` (the ``nn.Module`` built from it). Adding one is that folder and
one line in ``POLICIES``. A network's module is imported only when one is made, so reading
a configuration never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from robostral.policies.robostral_s.configuration import RobostralSConfig
from sim.config import from_dict

if TYPE_CHECKING:
    from torch import nn

# name -> (configuration class, "module:class" of the network)
POLICIES: dict[str, tuple[type, str]] = {
    RobostralSConfig.name: (RobostralSConfig, "robostral.policies.robostral_s.modeling:RobostralS"),
}


def policy_config_class(name: str) -> type:
    """The configuration class of policy ``name``; ValueError listing the known names for another."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known policies: {', '.join(POLICIES)}")
    return POLICIES[name][0]


def make_policy_config(name: str, **options: Any) -> Any:
    """The configuration of policy ``name`` with ``options``, each checked against its field's type."""
    return from_dict(policy_config_class(name), options)


def make_policy(config: Any) -> nn.Module:
    """The freshly initialized network ``config`` (made by ``make_policy_config``) describes."""
    policy_config_class(config.name)
    module, _, model = POLICIES[config.name][1].partition(":")
    return getattr(importlib.import_module(module), model)(config)
