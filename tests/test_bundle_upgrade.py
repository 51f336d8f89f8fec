"""A format-1 bundle (one graph taking the instruction's embedding) is read, refused at run time, and upgraded."""

from __future__ import annotations

import copy
import dataclasses
import shutil

import numpy as np
import pytest
import torch

from robostral.bundle.card import (
    FORMAT,
    INSTRUCTION_FILE,
    POLICY_FILE,
    PREVIOUS_FORMAT,
    BundleError,
    read_card,
    sha256_file,
    write_card,
)
from robostral.cli import main
from robostral.export.onnx_graph import export_onnx
from robostral.export.upgrade import upgrade_bundle
from robostral.runtime import PolicyRuntime
from robostral.runtime.session import policy_inputs, policy_session, run_policy
from robostral.training.bundle_weights import policy_from_bundle


@pytest.fixture(scope="module")
def format_one(wrist_pipeline, tmp_path_factory):
    """The wrist pipeline's bundle as format 1 wrote it: one policy graph on (image, state, language, wrist)."""
    bundle = tmp_path_factory.mktemp("format-one") / "bundle"
    shutil.copytree(wrist_pipeline.bundle, bundle)
    model = policy_from_bundle(bundle)
    names = policy_inputs(True)
    c = model.config
    rng = np.random.default_rng(1)
    args = (rng.integers(0, 256, (2, c.image_size, c.image_size, 3), dtype=np.uint8),
            rng.normal(size=(2, c.state_dim)).astype(np.float32),
            rng.normal(size=(2, c.language_dim)).astype(np.float32),
            rng.integers(0, 256, (2, c.image_size, c.image_size, 3), dtype=np.uint8))
    graph = export_onnx(copy.copy(model).eval(), tuple(torch.from_numpy(a) for a in args), list(names), ["actions"],
                        dict.fromkeys(names, {0: "batch"}), "robostral.export")
    (bundle / POLICY_FILE).write_bytes(graph.SerializeToString())
    (bundle / INSTRUCTION_FILE).unlink()
    card = read_card(bundle)
    files = {name: digest for name, digest in card.files.items() if name != INSTRUCTION_FILE}
    files[POLICY_FILE] = sha256_file(bundle / POLICY_FILE)
    write_card(bundle, dataclasses.replace(card, format=PREVIOUS_FORMAT, instruction_head=None, files=files))
    return bundle


def observations(card, count=6):
    rng = np.random.default_rng(2)
    return {"image": rng.integers(0, 256, (count, *card.image_shape), dtype=np.uint8),
            "state": rng.normal(size=(count, card.state_dim)).astype(np.float32),
            "language": rng.normal(scale=0.05, size=(count, card.language_dim)).astype(np.float32),
            "wrist_image": rng.integers(0, 256, (count, *card.wrist_shape), dtype=np.uint8)}


def test_a_format_one_bundle_is_refused_at_run_time_with_the_way_out(format_one):
    with pytest.raises(BundleError, match="policies upgrade"):
        PolicyRuntime(format_one)
    policy_from_bundle(format_one)  # its weights are still read: --init-from and the upgrade start from them


def test_the_upgrade_splits_the_graph_without_changing_what_it_predicts(format_one, tmp_path):
    old_card = read_card(format_one)
    inputs = observations(old_card)
    old = run_policy(policy_session(format_one / POLICY_FILE, threads=1), inputs)
    out = tmp_path / "upgraded"
    assert main(["policies", "upgrade", str(format_one), "--out", str(out)]) == 0

    card = read_card(out)
    assert card.format == FORMAT and INSTRUCTION_FILE in card.files and card.instruction_head["input"] == "language"
    upgrade = card.export["upgrade"]
    assert upgrade["from_policy_sha256"] == old_card.files[POLICY_FILE] and upgrade["max_abs_vs_previous_graph"] < 1e-4
    assert card.training == old_card.training and card.evaluation == old_card.evaluation  # the same network
    runtime = PolicyRuntime(out, threads=1)
    new = runtime.predict_chunks(inputs["image"], inputs["state"], inputs["language"], inputs["wrist_image"])
    assert np.abs(new - old).max() <= 1e-4
    assert np.abs(old).max() > 1e-2  # predictions that mean something

    with pytest.raises(BundleError, match="only 'robostral-policy-bundle/1' bundles need an upgrade"):
        upgrade_bundle(out, tmp_path / "again", "test")


def test_a_tampered_format_one_bundle_is_not_upgraded_and_is_left_as_it_was(format_one, tmp_path):
    tampered = tmp_path / "tampered"
    shutil.copytree(format_one, tampered)
    with open(tampered / POLICY_FILE, "r+b") as handle:
        handle.seek(-64, 2)
        handle.write(bytes(64))
    before = {p.name: p.read_bytes() for p in tampered.iterdir()}
    with pytest.raises(BundleError, match="tampered or corrupt"):
        upgrade_bundle(tampered, tampered, "test")
    assert {p.name: p.read_bytes() for p in tampered.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["tampered"]  # no staging folder left behind
