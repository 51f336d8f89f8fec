"""Robostral-S: a small language-conditioned visuomotor policy with action chunking."""

from robostral.policies.robostral_s.configuration import RobostralSConfig

__all__ = ["RobostralSConfig"]
