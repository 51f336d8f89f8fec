"""Deployment runtime: ONNX Runtime only (no torch), bundles verified before they run."""

from robostral.bundle.card import BundleError
from robostral.runtime.policy import ChunkController, PolicyRuntime

__all__ = ["BundleError", "ChunkController", "PolicyRuntime"]
