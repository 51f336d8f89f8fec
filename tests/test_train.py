"""`robostral train` on a tiny real dataset: the loss drops, outputs are written, resume is exact, bad configs fail."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_train_config
from safetensors import safe_open
from safetensors.torch import load_file

from robostral.bundle.card import read_card
from robostral.cli import build_parser, main
from robostral.commands.train import build_config
from robostral.data import load_dataset
from robostral.language import EMBEDDING_DIM
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.training.batches import ACTION, IMAGE, STATE, ChunkSamples
from robostral.training.checkpoint import (
    latest_checkpoint,
    load_initial_weights,
    load_policy_config,
    load_weights,
    read_state,
)
from robostral.training.config import PolicyOptions
from robostral.training.trainer import METRICS, train
from sim.config import yaml_mapping
from sim.language import COLORS, paraphrases

REPO = Path(__file__).resolve().parent.parent

def metrics(run) -> list[dict]:
    return list(csv.DictReader((run / "metrics.csv").open()))


def fixed_batch_loss(model: RobostralS, dataset) -> float:
    """Normalized L1 over every frame of the dataset: no augmentation, no dropout."""
    data = load_dataset(dataset)
    arrays = data.load_arrays([IMAGE, STATE, ACTION, "task_index"])
    batch = ChunkSamples(arrays, data.episodes, model.config.chunk_size).batch(np.arange(data.num_frames))
    from robostral.language.minilm import MiniLMEncoder

    language = MiniLMEncoder.from_package().encode(data.tasks)[batch.task]
    model.eval()
    with torch.no_grad():
        prediction = model.predict_normalized(batch.image, batch.state, language)
        return torch.nn.functional.l1_loss(prediction, model.normalize_targets(batch.actions, batch.state)).item()


def test_training_lowers_the_loss(pipeline):
    checkpoint = latest_checkpoint(pipeline.run)
    trained = RobostralS(load_policy_config(checkpoint))
    trained.load_state_dict(load_file(checkpoint / "model.safetensors"))
    untrained = RobostralS(load_policy_config(checkpoint))  # fresh weights, the trained run's normalization
    untrained.load_state_dict({name: value for name, value in trained.state_dict().items() if "_mean" in name or
                               "_std" in name}, strict=False)
    before, after = fixed_batch_loss(untrained, pipeline.dataset), fixed_batch_loss(trained, pipeline.dataset)
    assert after < 0.8 * before, (before, after)  # 60 steps on a tiny set: a clear drop, not convergence
    logged = [float(row["train_loss"]) for row in metrics(pipeline.run)]
    assert logged[-1] < logged[0], logged


def test_training_writes_metrics_curve_and_safetensors_checkpoints(pipeline):
    rows = metrics(pipeline.run)
    assert list(rows[0]) == list(METRICS)
    assert [int(r["step"]) for r in rows] == list(range(5, 61, 5))
    assert [int(r["step"]) for r in rows if r["val_loss"]] == [30, 60]  # one of the 4 episodes held out
    assert all(float(r["lr"]) > 0 and float(r["samples_per_s"]) > 0 for r in rows)
    png = (pipeline.run / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    checkpoints = pipeline.run / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["latest", "step-0000030", "step-0000060"]
    assert latest_checkpoint(pipeline.run) == checkpoints / "step-0000060"
    for step in checkpoints.glob("step-*"):
        assert sorted(p.name for p in step.iterdir()) == [
            "config.yaml", "model.safetensors", "optimizer.safetensors", "state.json"
        ]
        with safe_open(step / "model.safetensors", framework="pt") as weights:
            assert {"head.0.weight", "target_std"} <= set(weights.keys())  # weights and normalization
        with safe_open(step / "optimizer.safetensors", framework="pt") as moments:
            assert any(name.endswith(".exp_avg_sq") for name in list(moments.keys()))
    config = load_policy_config(checkpoints / "step-0000060")
    assert (config.chunk_size, config.channels, config.image_size, config.state_dim) == (5, (8, 16), 32, 15)


def interrupted_copy(run, tmp_path, at: str):
    """The run as a crash right after checkpoint ``at`` leaves it: later checkpoints gone, metrics rows kept."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for step in (copy / "checkpoints").glob("step-*"):
        if step.name > at:
            shutil.rmtree(step)
    (copy / "checkpoints" / "latest").write_text(at)
    (copy / "learning_curve.png").unlink()
    return copy


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_resume_after_a_crash_matches_the_uninterrupted_run(pipeline, tmp_path):
    resumed = interrupted_copy(pipeline.run, tmp_path, "step-0000030")
    train(tiny_train_config(pipeline.dataset, resumed), resume=True)

    for name in ("model.safetensors", "optimizer.safetensors"):
        assert_same_tensors(
            load_file(resumed / "checkpoints/step-0000060" / name),
            load_file(pipeline.run / "checkpoints/step-0000060" / name),
        )
    expected, got = metrics(pipeline.run), metrics(resumed)
    assert [r["step"] for r in got] == [r["step"] for r in expected]  # rows after step 30 redone, not doubled
    for column in ("lr", "train_loss", "val_loss"):
        assert [r[column] for r in got] == [r[column] for r in expected], column
    assert (resumed / "learning_curve.png").is_file()


def test_resume_extends_a_finished_run(pipeline, tmp_path):
    extended = tmp_path / "run"
    shutil.copytree(pipeline.run, extended)
    train(tiny_train_config(pipeline.dataset, extended, steps=80), resume=True)

    assert latest_checkpoint(extended).name == "step-0000080"
    rows = metrics(extended)
    assert [int(r["step"]) for r in rows] == list(range(5, 81, 5))
    assert rows[:12] == metrics(pipeline.run)  # the first 60 steps' history is kept as it was
    before, after = float(rows[11]["train_loss"]), float(rows[12]["train_loss"])
    assert abs(after - before) < 0.25 * before, (before, after)  # the smoothed loss carries on, no restart from 0
    assert float(rows[12]["elapsed_s"]) > float(rows[11]["elapsed_s"])


def train_recording_language(pipeline, tmp_path, monkeypatch, **overrides) -> tuple[RobostralS, torch.Tensor]:
    """Continue the pipeline's run 10 steps with ``overrides``: the model after, and the instruction embeddings
    each training step fed it, stacked."""
    seen = []
    original = RobostralS.predict_normalized

    def recording(self, image, state, language, wrist_image=None):
        if self.training:
            seen.append(language.detach().clone())
        return original(self, image, state, language, wrist_image)

    monkeypatch.setattr(RobostralS, "predict_normalized", recording)
    run = tmp_path / "run"
    shutil.copytree(pipeline.run, run)
    train(tiny_train_config(pipeline.dataset, run, steps=70, **overrides), resume=True)
    model = RobostralS(load_policy_config(latest_checkpoint(run)))
    model.load_state_dict(load_file(latest_checkpoint(run) / "model.safetensors"))
    return model, torch.cat(seen)


@pytest.mark.parametrize("noise", [0.0, 1.0])
def test_language_noise_perturbs_the_instruction_embeddings_training_sees(pipeline, tmp_path, monkeypatch, noise):
    model, fed = train_recording_language(pipeline, tmp_path, monkeypatch, language_noise=noise)
    from robostral.language.minilm import MiniLMEncoder

    clean = (MiniLMEncoder.from_package().encode(load_dataset(pipeline.dataset).tasks) - model.language_mean)
    clean = clean / model.language_std  # the training instructions, in the units the noise is given in
    fed = (fed - model.language_mean) / model.language_std
    offsets = fed[:, None, :] - clean[None, :, :]
    nearest = offsets[torch.arange(len(fed)), torch.cdist(fed, clean).argmin(dim=1)]
    assert abs(nearest.std().item() - noise) < 0.1 * noise + 1e-6  # noise 0: exactly a training instruction


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_paraphrase_prob_swaps_the_instructions_training_sees_for_paraphrases(pipeline, tmp_path, monkeypatch, prob):
    _, fed = train_recording_language(pipeline, tmp_path, monkeypatch, paraphrase_prob=prob)
    from robostral.language.minilm import MiniLMEncoder

    encoder = MiniLMEncoder.from_package()
    tasks = load_dataset(pipeline.dataset).tasks
    wordings = sorted({w for text in tasks for w in paraphrases(text)})
    assert wordings, "the experts' instructions all have paraphrases"
    to_originals = torch.cdist(fed, encoder.encode(tasks)).min(dim=1).values
    to_paraphrases = torch.cdist(fed, encoder.encode(wordings)).min(dim=1).values
    # Batched encoding moves an embedding by ~5e-4 (padding); distinct wordings lie further apart than 2e-2.
    if prob:
        assert (to_paraphrases < 2e-3).all() and (to_originals > 2e-2).all()
    else:
        assert (to_originals < 2e-3).all() and (to_paraphrases > 2e-2).all()


def test_a_fresh_run_standardizes_instructions_over_the_dataset_ones(pipeline):
    from robostral.language.minilm import MiniLMEncoder

    model = RobostralS(load_policy_config(latest_checkpoint(pipeline.run)))
    model.load_state_dict(load_file(latest_checkpoint(pipeline.run) / "model.safetensors"))
    embeddings = MiniLMEncoder.from_package().encode(load_dataset(pipeline.dataset).tasks)
    assert len(embeddings) > 1
    torch.testing.assert_close(model.language_mean, embeddings.mean(dim=0))
    torch.testing.assert_close(model.language_std, embeddings.std(dim=0, unbiased=False).clamp_min(1e-3))
    standardized = (embeddings - model.language_mean) / model.language_std
    assert standardized.abs().max() > 0.5  # what differs between instructions is stretched to order one


def test_instruction_embeddings_leave_text_without_paraphrases_alone():
    from robostral.language.minilm import MiniLMEncoder
    from robostral.training.instructions import InstructionEmbeddings

    tasks = ["reach the red target", "wave at the camera"]  # a train phrasing; free text, as from a recording
    table = InstructionEmbeddings(tasks, MiniLMEncoder.from_package(), paraphrase_prob=1.0)
    assert table.paraphrased_tasks == 1
    generator = torch.Generator().manual_seed(0)
    fed = table.sample(torch.tensor([0, 1] * 50), generator)
    assert torch.equal(fed[1::2], table.originals[[1] * 50])
    assert torch.cdist(fed[0::2], table.originals[:1]).min() > 1e-2
    assert len({tuple(row.tolist()) for row in fed[0::2]}) > 1  # drawn among the paraphrases, not one fixed
    with pytest.raises(ValueError, match="none of the dataset's 1 instructions is a sim.language train phrasing"):
        InstructionEmbeddings(tasks[1:], MiniLMEncoder.from_package(), paraphrase_prob=0.5)
    assert InstructionEmbeddings(tasks[1:], MiniLMEncoder.from_package()).paraphrased_tasks == 0  # prob 0: fine


def test_the_order_roles_are_the_directions_a_swap_of_the_named_objects_moves_the_order_vector():
    from robostral.language.minilm import MiniLMEncoder
    from robostral.training.instructions import InstructionEmbeddings, order_roles

    encoder = MiniLMEncoder.from_package("mean+order")
    pairs = list(itertools.permutations(COLORS, 2))
    tasks = [f"stack the {a} cube on the {b} cube" for a, b in pairs] + ["reach the red target"]
    table = InstructionEmbeddings(tasks, encoder, paraphrase_prob=0.5)
    center, basis = order_roles(table.texts, table.embeddings, encoder, 8)
    assert center.shape == (EMBEDDING_DIM,) and basis.shape == (EMBEDDING_DIM, 8)
    torch.testing.assert_close(basis.T @ basis, torch.eye(8), rtol=0, atol=1e-5)  # orthonormal columns
    # Unseen wordings: most of a swap's move lies in the roles' span; most of a change of wording does not.
    def kept(first: str, second: str) -> float:  # the share of the move between two order vectors the roles keep
        move = torch.diff(encoder.encode([second, first])[:, EMBEDDING_DIM:], dim=0)
        return float((move @ basis).norm() / move.norm())

    swap, rewording = ("set the orange cube atop the purple one", "set the purple cube atop the orange one"), \
        ("set the orange cube atop the purple one", "stack the orange cube on the purple cube")
    assert kept(*swap) > 0.8 and kept(*rewording) < 0.5
    one_object = ["reach the red target", "go to the blue marker"]
    with pytest.raises(ValueError, match="needs at least 8 instructions that name two objects; the training wordings "
                                         "have 0"):
        order_roles(one_object, encoder.encode(one_object), encoder, 8)


def test_a_fresh_run_refuses_a_folder_holding_another_run(pipeline, tmp_path):
    taken = tmp_path / "run"
    shutil.copytree(pipeline.run, taken)
    before = sorted(p.name for p in (taken / "checkpoints").iterdir())
    with pytest.raises(ValueError, match="already holds a training run .step-0000060.: pass --resume"):
        train(tiny_train_config(pipeline.dataset, taken))
    assert sorted(p.name for p in (taken / "checkpoints").iterdir()) == before


def test_init_from_grows_a_network_that_starts_where_the_checkpoint_left_off(pipeline, tmp_path):
    source = latest_checkpoint(pipeline.run)
    trained = RobostralS(load_policy_config(source))
    load_weights(source, trained)
    grown = RobostralS(dataclasses.replace(trained.config, fine_keypoints=4))
    new = load_initial_weights(source, grown)
    assert sorted(new) == ["fine_to_hidden.weight", "to_fine_keypoints.bias", "to_fine_keypoints.weight"]
    assert fixed_batch_loss(grown, pipeline.dataset) == fixed_batch_loss(trained, pipeline.dataset)

    config = tiny_train_config(pipeline.dataset, tmp_path / "run", steps=30, init_from=str(source))
    config.policy.fine_keypoints = 4
    train(config)
    end = latest_checkpoint(tmp_path / "run")
    weights = load_file(end / "model.safetensors")
    assert weights["fine_to_hidden.weight"].abs().max() > 0  # the new branch was trained, from zero
    assert torch.equal(weights["language_std"], trained.language_std)  # the checkpoint's normalization kept
    first_loss = float(metrics(tmp_path / "run")[0]["train_loss"])
    assert first_loss < 0.9 * float(metrics(pipeline.run)[0]["train_loss"])  # not a start from scratch
    prior = read_state(end)["prior"]
    assert prior["checkpoint"] == str(source) and prior["steps"] == 60
    assert prior["elapsed_s"] == read_state(source)["elapsed_s"]

    config.steps = 40  # resumed: the record of where it started is carried on, not lost
    train(config, resume=True)
    assert read_state(latest_checkpoint(tmp_path / "run"))["prior"] == prior


def test_init_from_a_checkpoint_of_another_network_is_refused_and_writes_nothing(pipeline, tmp_path):
    out = tmp_path / "run"
    config = tiny_train_config(pipeline.dataset, out, init_from=str(latest_checkpoint(pipeline.run)))
    config.policy.channels = (8, 32)
    with pytest.raises(ValueError, match="model.safetensors: weights of a network that does not fit"):
        train(config)
    assert not out.exists()


@pytest.mark.parametrize(
    ("yaml_text", "flags", "needle"),
    [
        ("stpes: 10\n", (), "unknown key(s) stpes"),
        ("policy:\n  chanels: [8, 16]\n", (), "TrainConfig.policy: PolicyOptions: unknown key(s) chanels"),
        ("policy:\n  action_mode: velocity\n", (), "action_mode must be one of"),
        ("", ("--steps", "-5"), "TrainConfig.steps must be positive, got -5"),
        ("", ("--lr", "0"), "TrainConfig.lr must be positive"),
        ("language_noise: -0.5\n", (), "TrainConfig.language_noise must be >= 0, got -0.5"),
        ("paraphrase_prob: 1.5\n", (), "TrainConfig.paraphrase_prob must be within [0, 1], got 1.5"),
        ("", ("--device", "tpu"), "TrainConfig.device must be cpu or cuda[:N], got 'tpu'"),
        ("frame_cache: ram\n", (), "TrainConfig.frame_cache must be one of ('disk', 'memory', 'off'), got 'ram'"),
        ("policy:\n  fine_keypoints: -2\n", (), "fine_keypoints -2 needs >= 0"),
        ("policy:\n  language_pooling: max\n", (), "unknown instruction pooling 'max'"),
        ("policy:\n  order_rank: 4\n", (), "order_rank 4 needs an order vector of at least that many floats; "
                                            "'mean' pooling makes 0"),
        ("policy:\n  language_pooling: mean+order\n  order_rank: 400\n", (), "'mean+order' pooling makes 384"),
        ("", ("--init-from", "/nonexistent/step-0000001"), "/nonexistent/step-0000001/model.safetensors: unreadable"),
        pytest.param(
            "", ("--device", "cuda"), "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_configs_are_refused_before_anything_is_written(pipeline, tmp_path, capsys, yaml_text, flags, needle):
    config = tmp_path / "train.yaml"
    config.write_text(yaml_text)
    out = tmp_path / "run"
    code = main(["train", "--config", str(config), "--dataset", str(pipeline.dataset), "--out", str(out), *flags])
    assert code == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_train_without_a_dataset_or_with_a_missing_one_is_refused(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    assert "no dataset: pass --dataset DIR" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_committed_training_config_loads(config, monkeypatch):
    monkeypatch.chdir(REPO)  # their paths are relative to the repository, as the README runs them
    loaded = build_config(build_parser().parse_args(["train", "--config", f"configs/{config}"]))
    assert loaded.dataset.startswith("datasets/") and loaded.out.startswith("runs/train/")
    if loaded.init_from.startswith("policies/"):  # a bundle: its card's network, changed where the config says
        network = read_card(REPO / loaded.init_from).network
        changes = yaml_mapping(REPO / "configs" / config, "TrainConfig").get("policy") or {}
        expected = PolicyOptions(**dataclasses.asdict(PolicyOptions.of_network(network)) | changes)
        assert dataclasses.asdict(loaded.policy) == dataclasses.asdict(expected)
        assert list(loaded.policy.channels) == network["channels"] and loaded.policy.wrist_camera
