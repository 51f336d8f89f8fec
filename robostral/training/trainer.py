"""`robostral train`: fit Robostral-S to a recorded dataset, with checkpoints, metrics and a learning curve.

Outputs under ``config.out``: ``checkpoints/step-*/`` (safetensors, resumable),
``metrics.csv`` (step, lr, training and validation loss, samples per second) and
``learning_curve.png``.
"""

from __future__ import annotations

import base64
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from robostral.bundle.card import CARD_FILE, read_card
from robostral.data import load_dataset
from robostral.data.layout import IMAGE_KEYS
from robostral.language.minilm import MiniLMEncoder
from robostral.policies.factory import make_policy, make_policy_config
from robostral.policies.robostral_s.modeling import RobostralS
from robostral.training.batches import (
    ACTION,
    IMAGE,
    STATE,
    ChunkSamples,
    dataset_image_columns,
    image_columns,
    split_episodes,
    target_statistics,
)
from robostral.training.bundle_weights import bundle_network_config, policy_from_bundle
from robostral.training.checkpoint import (
    initialize_weights,
    latest_checkpoint,
    load_initial_weights,
    load_policy_config,
    load_training_state,
    read_state,
    save_checkpoint,
)
from robostral.training.config import TrainConfig
from robostral.training.curves import plot_learning_curve
from robostral.training.frame_cache import camera_frames
from robostral.training.instructions import InstructionEmbeddings, order_roles
from robostral.training.step import TrainingStep

METRICS = ("step", "lr", "train_loss", "val_loss", "samples_per_s", "elapsed_s")


def train(config: TrainConfig, resume: bool = False, command: str = "") -> Path:
    """Train until ``config.steps``; with ``resume`` continue from the latest checkpoint in ``config.out``.

    ``command`` (the command line that started it) is kept in the checkpoints for the policy card.
    """
    device = _device(config)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    if not resume and latest_checkpoint(out) is not None:  # before anything slow, and before touching it
        raise ValueError(f"{out} already holds a training run ({latest_checkpoint(out).name}): "
                         "pass --resume to continue it, or another --out")

    dataset = load_dataset(config.dataset)
    cameras = dataset_image_columns(dataset, config.policy.wrist_camera)
    arrays = dataset.load_arrays([STATE, ACTION, "task_index"])
    arrays |= camera_frames(dataset, cameras, config.frame_cache, config.frame_cache_dir)
    train_episodes, val_episodes = split_episodes(dataset.episodes, config.val_fraction, config.seed)
    chunk = config.policy.chunk_size
    train_set = ChunkSamples(arrays, train_episodes, chunk)
    val_set = ChunkSamples(arrays, val_episodes, chunk)

    model = make_policy(
        make_policy_config(
            config.policy.name,
            state_dim=arrays[STATE].shape[1],
            action_dim=arrays[ACTION].shape[1],
            image_size=arrays[IMAGE].shape[1],
            joint_names=list(dataset.joint_names),
            **vars(config.policy),
        )
    )
    encoder = MiniLMEncoder.from_package(config.policy.language_pooling)
    instructions = InstructionEmbeddings(dataset.tasks, encoder, config.paraphrase_prob)
    rank, kept = config.policy.order_rank, _order_rank(Path(config.init_from)) if config.init_from else 0
    if kept and rank != kept:
        raise ValueError(f"order_rank {rank} does not fit {config.init_from}, whose network keeps {kept} role "
                         "directions of the order vector")
    if rank and not kept:  # before the statistics, which are those of the embeddings as projected
        model.set_order_roles(*order_roles(instructions.texts, instructions.embeddings, encoder, rank))
    language = instructions.originals.to(device)
    set_normalization(model, dataset.stats, train_set, model.language_roles(language))
    model.to(device)

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    step, elapsed, running = 0, 0.0, None  # running: smoothed training loss
    prior = None  # the training that --init-from's weights already had, carried into every checkpoint
    checkpoint = latest_checkpoint(out) if resume else None
    if checkpoint is not None:
        state = load_training_state(checkpoint, model, optimizer)
        step, elapsed, running = state["step"], state["elapsed_s"], state.get("running_loss")
        prior = state.get("prior")
        _restore_random_state(state, rng, generator, device)
        _truncate_metrics(out / "metrics.csv", step)  # rows logged after the checkpoint are redone
    else:
        if config.init_from:
            prior = _initialize_from(Path(config.init_from), model)
        if (out / "metrics.csv").exists():
            (out / "metrics.csv").unlink()  # a fresh run does not append to an old run's curve
    # Created after a resume so that it starts at the checkpoint's step (its optimizer holds initial_lr).
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(config, s), last_epoch=step - 1)

    # What the cameras the policy reads were rendered at and cropped to (per graph input), for the card.
    camera_input = {key: source.as_dict() for key, source in dataset.camera_sources.items()
                    if IMAGE_KEYS[key] in cameras}
    extra = {"dataset": str(config.dataset), "dataset_hash": dataset.hash(), "frames": len(train_set),
             "command": command, "prior": prior, "camera_input": camera_input}
    out.mkdir(parents=True, exist_ok=True)  # only now: a bad config, dataset or --init-from leaves nothing
    metrics = _MetricsWriter(out / "metrics.csv")
    progress = tqdm(total=config.steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    started, window_start, window_samples = time.perf_counter(), time.perf_counter(), 0
    training_step = TrainingStep(model, optimizer, instructions, config, generator, device)
    model.train()
    while step < config.steps:
        loss = training_step(train_set.random_batch(config.batch_size, rng))
        schedule.step()
        step += 1
        window_samples += config.batch_size
        running = loss if running is None else 0.98 * running + 0.02 * loss
        progress.update(1)
        progress.set_postfix(loss=f"{running:.4f}", lr=f"{schedule.get_last_lr()[0]:.1e}", refresh=False)
        last = step == config.steps
        if step % config.log_every == 0 or last:
            now = time.perf_counter()
            row = {
                "step": step,
                "lr": schedule.get_last_lr()[0],
                "train_loss": running,
                "samples_per_s": window_samples / (now - window_start),
                "elapsed_s": elapsed + now - started,
            }
            if step % config.eval_every == 0 or last:
                row["val_loss"] = _validation_loss(model, val_set, language, config.batch_size, device)
            metrics.write(row)
            window_start, window_samples = now, 0
        if step % config.checkpoint_every == 0 or last:
            state = {
                **extra,
                "elapsed_s": elapsed + time.perf_counter() - started,
                "running_loss": running,
                **_random_state(rng, generator, device),
            }
            save_checkpoint(out, step, model, optimizer, state, config)
    progress.close()
    plot_learning_curve(out / "metrics.csv", out / "learning_curve.png")
    return out


def _device(config: TrainConfig) -> torch.device:
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {config.device} asked for, but torch sees no CUDA device on this machine")
    if config.threads:
        torch.set_num_threads(config.threads)
    return torch.device(config.device)


def _order_rank(source: Path) -> int:
    """The ``order_rank`` of ``--init-from``'s network (a bundle or a checkpoint): role directions it keeps."""
    if (source / CARD_FILE).is_file():
        return bundle_network_config(read_card(source)).order_rank
    if (source / "config.yaml").is_file():
        return load_policy_config(source).order_rank
    return 0  # loading its weights says what is wrong


def _initialize_from(source: Path, model: RobostralS) -> dict:
    """Load the weights of ``source``, a checkpoint or a policy bundle, into ``model``.

    Returns the training they already had, carried into the card of what this run exports.
    """
    if (source / CARD_FILE).is_file():
        fresh = initialize_weights(model, policy_from_bundle(source).state_dict(), source)
        training = read_card(source).training
        prior = {"bundle": str(source), "command": training.get("command", ""), "steps": training["steps"],
                 "elapsed_s": training["wall_time_s"]}
        earlier = training.get("initialized_from")
    else:
        fresh = load_initial_weights(source, model)
        state = read_state(source)
        prior = {"checkpoint": str(source), "command": state.get("command", ""), "steps": state["step"],
                 "elapsed_s": state["elapsed_s"]}
        earlier = state.get("prior")
    if fresh:
        tqdm.write(f"initialized from {source}; new, so as this run set them up (initialization, or this "
                   f"dataset's statistics): {', '.join(fresh)}")
    if earlier:
        prior["steps"] += earlier["steps"]
        prior["elapsed_s"] += earlier["elapsed_s"]
    return prior


def _random_state(rng: np.random.Generator, generator: torch.Generator, device: torch.device) -> dict:
    """Every random stream training draws from, as JSON: batches (numpy), augmentation, dropout (torch)."""
    state = {"numpy_rng": rng.bit_generator.state, "torch_rng": _encode(generator.get_state())}
    state["torch_global_rng"] = _encode(torch.get_rng_state())
    if device.type == "cuda":
        state["cuda_rng"] = _encode(torch.cuda.get_rng_state(device))
    return state


def _restore_random_state(state: dict, rng: np.random.Generator, generator: torch.Generator, device) -> None:
    rng.bit_generator.state = state["numpy_rng"]
    generator.set_state(_decode(state["torch_rng"]))
    if "torch_global_rng" in state:  # absent from checkpoints written before dropout's stream was saved
        torch.set_rng_state(_decode(state["torch_global_rng"]))
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(_decode(state["cuda_rng"]), device)


def _encode(rng_state: torch.Tensor) -> str:
    return base64.b64encode(rng_state.numpy().tobytes()).decode()


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def _lr_factor(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_fraction``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    floor = config.min_lr_fraction
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_normalization(model: RobostralS, stats: dict, train_set: ChunkSamples, language: torch.Tensor) -> None:
    """Image and state statistics from the dataset's stats.json; chunk targets and instructions from its frames."""
    joint_positions = lambda s: model.joint_positions(torch.from_numpy(s)).numpy()  # noqa: E731
    target_mean, target_std = target_statistics(train_set, joint_positions, model.config.action_mode)
    values = {
        "state_mean": stats[STATE]["mean"],
        "state_std": stats[STATE]["std"],
        "target_mean": target_mean,
        "target_std": target_std,
        "language_mean": language.mean(dim=0),
        "language_std": language.std(dim=0, unbiased=False),
    }
    for prefix, column in zip(("image", "wrist_image"), image_columns(model.config.wrist_camera)):
        values[f"{prefix}_mean"] = np.asarray(stats[column]["mean"]).reshape(3)
        values[f"{prefix}_std"] = np.asarray(stats[column]["std"]).reshape(3)
    model.set_normalization(values)


@torch.no_grad()
def _validation_loss(model: RobostralS, samples: ChunkSamples, language, batch_size: int, device) -> float | None:
    if len(samples) == 0:
        return None
    model.eval()
    total = 0.0
    for batch in samples.batches(batch_size):
        state = batch.state.to(device)
        wrist = None if batch.wrist_image is None else batch.wrist_image.to(device)
        prediction = model.predict_normalized(batch.image.to(device), state, language[batch.task.to(device)], wrist)
        target = model.normalize_targets(batch.actions.to(device), state)
        total += torch.nn.functional.l1_loss(prediction, target, reduction="sum").item() / target[0].numel()
    model.train()
    return total / len(samples)


def _truncate_metrics(path: Path, step: int) -> None:
    if not path.exists():
        return
    rows = [r for r in csv.DictReader(path.open()) if int(r["step"]) <= step]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRICS)
        writer.writeheader()
        writer.writerows(rows)


class _MetricsWriter:
    """Appends rows to metrics.csv, flushing each one so a crash keeps the curve so far."""

    def __init__(self, path: Path) -> None:
        new = not path.exists()
        self.handle = path.open("a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=METRICS)
        if new:
            self.writer.writeheader()

    def write(self, row: dict) -> None:
        self.writer.writerow(row)
        self.handle.flush()
