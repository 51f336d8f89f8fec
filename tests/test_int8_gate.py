"""An int8 variant is trustworthy or absent: export refuses one outside its gate, the runtime one its card
does not vouch for, and the shipped bundle ships fp32 only."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest
from conftest import copy_bundle

from robostral.bundle.card import POLICY_INT8_FILE, BundleError, read_card, sha256_file, write_card
from robostral.cli import main
from robostral.export.quantize import INT8_MAX_ABS, Int8Gate, kept_in_fp32
from robostral.runtime import PolicyRuntime

SHIPPED = Path(__file__).resolve().parent.parent / "policies" / "robostral-s-panda"


@pytest.mark.parametrize("bounds, message", [
    (("--int8-max-abs", "1e-9"), r"int8 variant refused over 64 dataset frames: it differs from the fp32 model by "
                                 r"up to [0-9.e-]+ \(bound 1e-09\)"),
    (("--int8-max-abs", "1", "--int8-min-speedup", "1000"), r"it runs [0-9.]+x the fp32 speed at batch 1 \(at least "
                                                            r"1000x needed\)"),
], ids=["parity", "speed"])
def test_export_refuses_an_int8_variant_outside_its_gate_and_writes_nothing(pipeline, tmp_path, capsys, bounds,
                                                                              message):
    out = copy_bundle(pipeline.bundle, tmp_path / "out" / "bundle")  # an earlier export, to be left as it was
    before = {p.name: sha256_file(p) for p in out.iterdir()}
    assert main(["export", "--checkpoint", str(pipeline.run), "--out", str(out), "--int8", *bounds]) == 2
    error = capsys.readouterr().err
    assert re.search(message, error), error
    assert "Export without --int8 to ship fp32 only; nothing was written" in error
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["bundle"]  # no staging folder left behind


def test_the_int8_bounds_are_checked_before_any_work(pipeline, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(pipeline.run), "--out", str(out), "--int8-max-abs", "0.1"]) == 2
    assert "pass --int8 with them" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(pipeline.run), "--out", str(out), "--int8", "--int8-max-abs",
                 "nan"]) == 2
    assert "must be a positive number of joint units, got nan" in capsys.readouterr().err
    assert not out.exists()
    assert Int8Gate().max_abs == INT8_MAX_ABS and not Int8Gate().failures(INT8_MAX_ABS, Int8Gate().min_speedup)


def edited(change):
    """A change to a bundle that edits its card with ``change``."""
    def apply(bundle: Path) -> None:
        card = read_card(bundle)
        change(card)
        write_card(bundle, card)
    return apply


def unvouched(card) -> None:
    del card.export["int8"]


def vouched_beyond_its_bound(card) -> None:
    card.export["int8"]["max_abs"] = 2 * card.export["int8"]["bound"]


def without_its_file(bundle: Path) -> None:
    """What an export without --int8 writes: neither the file, nor its hash, nor the vouching block."""
    card = read_card(bundle)
    del card.export["int8"], card.files[POLICY_INT8_FILE]
    write_card(bundle, card)
    (bundle / POLICY_INT8_FILE).unlink()


@pytest.mark.parametrize("change, message", [
    (edited(unvouched), "vouches for no int8 variant"),
    (without_its_file, "vouches for no int8 variant"),
    (edited(vouched_beyond_its_bound),
     r"vouches for an int8 variant that its own numbers refuse: max abs [0-9.]+ \(bound 1\)"),
], ids=["card without export.int8", "fp32-only bundle", "numbers beyond the card's bound"])
def test_the_runtime_refuses_an_int8_variant_its_card_does_not_vouch_for(pipeline, tmp_path, change, message):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    change(bundle)
    with pytest.raises(BundleError, match=message):
        PolicyRuntime(bundle, int8=True, trusted_keys=[])
    PolicyRuntime(bundle, trusted_keys=[])  # its fp32 graph still runs


def test_a_vouched_int8_variant_loads(pipeline):
    runtime = PolicyRuntime(pipeline.bundle, int8=True, trusted_keys=[])
    quantized_ops = {node.op_type for node in onnx.load(str(pipeline.bundle / POLICY_INT8_FILE)).graph.node}
    assert runtime.card.int8["vouched"] is True and "QLinearConv" in quantized_ops


def test_the_shipped_bundle_ships_fp32_only():
    card = read_card(SHIPPED)
    assert card.int8 is None and POLICY_INT8_FILE not in card.files and not (SHIPPED / POLICY_INT8_FILE).exists()
    assert "--int8" not in card.export["command"] and set(card.export["latency_batch1"]) == {"fp32_ms"}
    with pytest.raises(BundleError, match="vouches for no int8 variant"):
        PolicyRuntime(SHIPPED, int8=True, trusted_keys=[])


def test_eval_int8_refuses_a_bundle_without_a_vouched_variant_before_any_episode(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", "--policy", str(SHIPPED), "--int8", "--task", "reach", "--episodes", "1", "--heldout-episodes",
            "0", "--chains", "0", "--videos", "0", "--no-write-card", "--out", str(out)]
    assert main(argv) == 2
    assert "its card vouches for no int8 variant (export.int8), so none runs" in capsys.readouterr().err
    assert not (out / "report.json").exists()


def test_the_recipe_keeps_the_image_and_keypoint_convolutions_in_fp32():
    graph = onnx.load(str(SHIPPED / "policy.onnx"))
    weights = {tensor.name for tensor in graph.graph.initializer}
    kept = {node.input[1] for node in graph.graph.node if node.name in kept_in_fp32(graph)}
    assert kept <= weights and kept == {"blocks.0.conv.weight", "wrist_blocks.0.conv.weight", "to_keypoints.weight",
                                        "to_fine_keypoints.weight", "wrist_to_keypoints.weight"}
