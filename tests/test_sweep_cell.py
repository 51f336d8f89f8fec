"""A sweep worker's bundle: unpacked from bytes, verified and loaded, with no folder left behind."""

from __future__ import annotations

import tempfile
from dataclasses import replace

import numpy as np
import pytest

from robostral.bundle.card import BundleError
from robostral.runtime import PolicyRuntime
from robostral.sweep import cell


@pytest.fixture
def private_temp(tmp_path, monkeypatch):
    """The temporary folder the worker would use, empty, and an empty runtime cache."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(cell, "_runtimes", {})
    return tmp_path


def test_a_worker_unpacks_a_bundle_once_and_keeps_no_folder(pipeline, private_temp):
    payload = cell.pack_bundle(pipeline.bundle)
    runtime = cell.runtime_from_payload(payload)
    assert list(private_temp.iterdir()) == []  # nothing left for a killed worker to leak
    assert cell.runtime_from_payload(payload) is runtime  # later cells reuse it
    deployed = PolicyRuntime(pipeline.bundle)
    image = np.random.default_rng(0).integers(0, 256, (2, *deployed.card.image_shape), np.uint8)
    state = np.zeros((2, deployed.card.state_dim), np.float32)
    language = runtime.encoder.encode_batch(["reach the red target", "reach the red target"])
    np.testing.assert_array_equal(runtime.predict_chunks(image, state, language),
                                  deployed.predict_chunks(image, state, language))


def test_a_tampered_payload_is_refused_and_leaves_nothing(pipeline, private_temp):
    payload = cell.pack_bundle(pipeline.bundle)
    files = dict(payload.files)
    files["policy.onnx"] = files["policy.onnx"][:-1] + bytes([files["policy.onnx"][-1] ^ 1])
    with pytest.raises(BundleError, match="policy.onnx"):
        cell.runtime_from_payload(replace(payload, files=files))
    assert list(private_temp.iterdir()) == [] and cell._runtimes == {}
