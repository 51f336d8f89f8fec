"""A bundle's network read back into torch: the exported checkpoint's weights, fine-tuning from it, refusals."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import copy_bundle, tiny_train_config
from safetensors.torch import load_file

from robostral.bundle.card import CARD_FILE, ENCODER_FILE, POLICY_FILE, BundleError, read_card, sha256_file, write_card
from robostral.cli import main
from robostral.export.bundle import export_bundle
from robostral.export.encoder import export_encoder
from robostral.export.encoder import main as export_encoder_main
from robostral.language import EMBEDDING_DIM, POOLINGS
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.runtime.policy import PolicyRuntime
from robostral.training.bundle_weights import BundleWeightsError, policy_from_bundle
from robostral.training.checkpoint import initialize_weights, latest_checkpoint, read_state
from robostral.training.config import PolicyOptions
from robostral.training.trainer import train

SHIPPED = Path(__file__).resolve().parent.parent / "policies" / "robostral-s-panda"


def first_train_loss(run: Path) -> float:
    with open(run / "metrics.csv", newline="") as handle:
        return float(next(csv.DictReader(handle))["train_loss"])


@pytest.mark.parametrize("fixture", ["pipeline", "wrist_pipeline"])
def test_a_bundle_gives_back_the_weights_of_the_checkpoint_it_was_exported_from(fixture, request):
    made = request.getfixturevalue(fixture)
    exported = load_file(latest_checkpoint(made.run) / "model.safetensors")
    model = policy_from_bundle(made.bundle)

    read_back = model.state_dict()
    assert read_back.keys() == exported.keys()
    for name, tensor in exported.items():
        if name.endswith(("image_mean", "image_std")):  # folded into 1 / (255 std) and -mean / std, then undone
            torch.testing.assert_close(read_back[name], tensor, rtol=1e-5, atol=1e-6)
        else:
            assert torch.equal(read_back[name], tensor), name
    assert not model.training
    assert model.config.wrist_camera == (fixture == "wrist_pipeline")


def test_the_shipped_bundle_gives_back_its_network():
    model = policy_from_bundle(SHIPPED)  # checked against policy.onnx within the export's tolerance, or refused
    card = read_card(SHIPPED)
    assert model.num_trainable_parameters() == card.trainable_parameters
    assert model.config.joint_names == card.joint_names
    assert model.config.wrist_camera


def test_a_run_started_from_a_bundle_starts_where_the_bundle_left_off(pipeline, tmp_path):
    config = tiny_train_config(pipeline.dataset, tmp_path / "run", steps=10, checkpoint_every=10,
                               init_from=str(pipeline.bundle))
    train(config)

    assert first_train_loss(tmp_path / "run") < 0.9 * first_train_loss(pipeline.run)  # not a start from scratch
    source_card = read_card(pipeline.bundle)
    prior = read_state(latest_checkpoint(tmp_path / "run"))["prior"]
    assert prior == {"bundle": str(pipeline.bundle), "command": source_card.training["command"],
                     "steps": 60, "elapsed_s": source_card.training["wall_time_s"]}


def test_train_from_a_bundle_takes_its_network_from_the_card_changed_where_the_config_says(wrist_pipeline, tmp_path,
                                                                                        capsys):
    settings = "steps: 2\nbatch_size: 4\nthreads: 1\nlog_every: 1\neval_every: 2\ncheckpoint_every: 2\n"
    (tmp_path / "bare.yaml").write_text(settings)
    flags = ["--dataset", str(wrist_pipeline.dataset), "--init-from", str(wrist_pipeline.bundle)]
    assert main(["train", "--config", str(tmp_path / "bare.yaml"), "--out", str(tmp_path / "run"), *flags]) == 0
    network = read_card(wrist_pipeline.bundle).network
    trained = yaml.safe_load((latest_checkpoint(tmp_path / "run") / "config.yaml").read_text())["policy"]
    assert {key: trained[key] for key in network if key != "trainable_parameters"} == {
        key: value for key, value in network.items() if key != "trainable_parameters"}
    assert network["wrist_camera"] and network["channels"] != list(PolicyOptions.channels)  # not the defaults

    (tmp_path / "other.yaml").write_text(settings + "policy:\n  channels: [8, 16]\n  hidden_dim: 128\n")
    assert main(["train", "--config", str(tmp_path / "other.yaml"), "--out", str(tmp_path / "other"), *flags]) == 2
    assert "not fit" in capsys.readouterr().err  # the config's change wins, and does not fit the bundle's
    assert not (tmp_path / "other").exists()


def test_a_bundle_whose_card_describes_another_network_is_refused(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = yaml.safe_load((bundle / CARD_FILE).read_text())
    card["network"]["hidden_dim"] *= 2  # the card is not hashed (only signed), so this passes verification
    (bundle / CARD_FILE).write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(BundleWeightsError, match="its graphs are not the network its card describes"):
        policy_from_bundle(bundle)


def test_a_card_without_its_network_is_refused_with_the_reason(pipeline, tmp_path, capsys):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = yaml.safe_load((bundle / CARD_FILE).read_text())
    del card["network"]
    (bundle / CARD_FILE).write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(BundleError, match="an incomplete card, it has no network"):
        policy_from_bundle(bundle)
    out = tmp_path / "run"
    code = main(["train", "--dataset", str(pipeline.dataset), "--out", str(out), "--init-from", str(bundle)])
    assert code == 2 and "it has no network" in capsys.readouterr().err and not out.exists()


def test_a_card_whose_pooling_does_not_fit_its_language_width_is_refused(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    card = yaml.safe_load((bundle / CARD_FILE).read_text())
    card["network"]["language_pooling"] = "mean+order"  # language_dim stays 384
    (bundle / CARD_FILE).write_text(yaml.safe_dump(card, sort_keys=False))
    with pytest.raises(ValueError, match=r"language_dim 384 does not match 'mean\+order' pooling \(768\)"):
        policy_from_bundle(bundle)


def test_a_tampered_bundle_gives_back_nothing(pipeline, tmp_path):
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    graph = bytearray((bundle / POLICY_FILE).read_bytes())
    graph[-100] ^= 0xFF
    (bundle / POLICY_FILE).write_bytes(bytes(graph))
    with pytest.raises(BundleError, match="policy.onnx"):
        policy_from_bundle(bundle)
    out = tmp_path / "run"
    with pytest.raises(BundleError, match="policy.onnx"):
        train(tiny_train_config(pipeline.dataset, out, init_from=str(bundle)))
    assert not out.exists()


def test_a_network_grown_to_mean_order_pooling_starts_out_computing_what_the_bundle_did(pipeline):
    source = policy_from_bundle(pipeline.bundle)
    grown = RobostralS(dataclasses.replace(source.config, language_pooling="mean+order", language_dim=0))
    assert grown.config.language_dim == POOLINGS["mean+order"]
    assert initialize_weights(grown, source.state_dict(), pipeline.bundle) == []  # every tensor came from it
    grown.eval()
    assert grown.blocks[0].film.weight[:, EMBEDDING_DIM:].abs().max() == 0  # the order inputs start ignored
    torch.testing.assert_close(grown.language_mean[:EMBEDDING_DIM], source.language_mean, rtol=0, atol=0)

    generator = torch.Generator().manual_seed(0)
    size = source.config.image_size
    image = torch.randint(0, 256, (3, size, size, 3), dtype=torch.uint8, generator=generator)
    state = 0.3 * torch.randn(3, source.config.state_dim, generator=generator)
    mean = torch.nn.functional.normalize(torch.randn(3, EMBEDDING_DIM, generator=generator), dim=1)
    order = torch.randn(3, EMBEDDING_DIM, generator=generator)
    with torch.no_grad():
        assert torch.equal(grown(image, state, torch.cat([mean, order], 1)), source(image, state, mean))


def test_a_bundle_fine_tuned_to_mean_order_pooling_trains_exports_and_deploys(pipeline, tmp_path):
    config = tmp_path / "order.yaml"
    config.write_text("steps: 2\nbatch_size: 4\nthreads: 1\nlog_every: 1\neval_every: 2\ncheckpoint_every: 2\n"
                      "policy:\n  language_pooling: mean+order\n")
    run = tmp_path / "run"
    flags = ["--dataset", str(pipeline.dataset), "--init-from", str(pipeline.bundle), "--out", str(run)]
    assert main(["train", "--config", str(config), *flags]) == 0
    checkpoint = latest_checkpoint(run)
    policy = yaml.safe_load((checkpoint / "config.yaml").read_text())["policy"]
    network = read_card(pipeline.bundle).network
    assert policy["language_pooling"] == "mean+order" and policy["language_dim"] == POOLINGS["mean+order"]
    assert list(policy["channels"]) == network["channels"]  # everything else is the bundle's network
    film = load_file(checkpoint / "model.safetensors")["blocks.0.film.weight"]
    assert film.shape[1] == POOLINGS["mean+order"] and film[:, EMBEDDING_DIM:].abs().max() > 0  # trained from zero

    bundle = tmp_path / "bundle"
    card = export_bundle(checkpoint, bundle, "robostral export (test)")
    assert card.encoder_pooling == "mean+order" and card.language_dim == POOLINGS["mean+order"]
    runtime = PolicyRuntime(bundle, threads=1)
    language = runtime.embed("stack the red cube on the blue cube")[None]
    assert language.shape == (1, POOLINGS["mean+order"])
    image = np.zeros((1, *runtime.image_shape), np.uint8)
    state = np.zeros((1, runtime.state_dim), np.float32)
    assert np.isfinite(runtime.predict_chunks(image, state, language)).all()
    with pytest.raises(ValueError, match=r"language must be \(1, 768\), got \(1, 384\)"):
        runtime.predict_chunks(image, state, language[:, :EMBEDDING_DIM])

    (bundle / ENCODER_FILE).unlink()  # `make encoders`: the encoder comes back from the card alone, bit for bit
    export_encoder_main([str(bundle)])
    assert sha256_file(bundle / ENCODER_FILE) == card.files[ENCODER_FILE]

    mismatched = copy_bundle(bundle, tmp_path / "mismatched")  # an encoder of the other pooling, hashes updated
    (mismatched / ENCODER_FILE).unlink()
    card.files[ENCODER_FILE] = export_encoder(mismatched, "mean")[ENCODER_FILE]
    write_card(mismatched, card)
    with pytest.raises(ValueError, match="its encoder gives 384-float embeddings, its policy takes 768"):
        PolicyRuntime(mismatched, threads=1)


def test_a_policy_reading_only_the_order_vectors_roles_ignores_the_rest_of_it(pipeline, tmp_path, capsys):
    config = tmp_path / "roles.yaml"
    config.write_text("steps: 2\nbatch_size: 4\nthreads: 1\nlog_every: 1\neval_every: 2\ncheckpoint_every: 2\n"
                      "lr: 0.01\nparaphrase_prob: 0.5\npolicy:\n  language_pooling: mean+order\n  order_rank: 4\n")
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    flags = ["--dataset", str(pipeline.dataset), "--init-from", str(pipeline.bundle), "--out", str(run)]
    assert main(["train", "--config", str(config), *flags]) == 0
    card = export_bundle(latest_checkpoint(run), bundle, "robostral export (test)")
    assert card.network["order_rank"] == 4

    model = policy_from_bundle(bundle)  # the projection is read back from the graph, within parity
    projection = model.order_projection
    torch.testing.assert_close(projection @ projection, projection, rtol=0, atol=1e-5)
    assert round(float(torch.trace(projection))) == 4

    runtime = PolicyRuntime(bundle, threads=1)
    language = runtime.embed("pick up the red cube and put it in the blue bin")[None]
    generator = torch.Generator().manual_seed(0)
    shift = torch.randn(EMBEDDING_DIM, generator=generator)
    outside, inside = shift - shift @ projection, shift @ projection  # off the roles' span, and on it
    image = np.zeros((1, *runtime.image_shape), np.uint8)
    state = np.zeros((1, runtime.state_dim), np.float32)

    def moved(along: torch.Tensor) -> np.ndarray:
        language_moved = language.copy()
        language_moved[0, EMBEDDING_DIM:] += along.numpy()
        return runtime.predict_chunks(image, state, language_moved)

    base = runtime.predict_chunks(image, state, language)
    np.testing.assert_allclose(moved(outside), base, rtol=0, atol=1e-5)
    assert np.abs(moved(inside) - base).max() > 1e-3
    with torch.no_grad():
        torch_chunks = model(*(torch.from_numpy(x) for x in (image, state, language)))
    np.testing.assert_allclose(torch_chunks.numpy(), base, rtol=0, atol=1e-4)

    # Fine-tuning such a bundle keeps its roles (whatever instructions the new data has), and their number.
    config.write_text(config.read_text().replace("paraphrase_prob: 0.5", "paraphrase_prob: 0.0"))  # other wordings
    again = tmp_path / "again"
    flags = ["--dataset", str(pipeline.dataset), "--init-from", str(bundle), "--out", str(again)]
    assert main(["train", "--config", str(config), *flags]) == 0
    kept = load_file(latest_checkpoint(again) / "model.safetensors")
    assert torch.equal(kept["order_projection"], projection) and torch.equal(kept["order_center"], model.order_center)
    config.write_text(config.read_text().replace("order_rank: 4", "order_rank: 2"))
    other = tmp_path / "other"
    assert main(["train", "--config", str(config), *flags[:-1], str(other)]) == 2
    assert "order_rank 2 does not fit" in capsys.readouterr().err and not other.exists()
