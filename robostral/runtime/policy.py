"""Run a policy bundle with ONNX Runtime only: verify it, then turn observations into joint targets.

No torch on this path: a deployment installs onnxruntime, numpy, tokenizers and
PyYAML. ``PolicyRuntime`` verifies the bundle (every sha256, and the signature
when trusted keys are configured), warms the sessions up, caches each instruction's
embedding and its condition (the instruction head's output, so each step runs only
the per-step graph), validates every input (instructions by ``sim.language.check_instruction``),
and predicts action chunks for a batch of observations. ``ChunkController`` turns
chunks into one action per control step with ACT's temporal ensembling, one history
per env of a batch.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from robostral.bundle.card import INSTRUCTION_FILE, POLICY_FILE, POLICY_INT8_FILE
from robostral.bundle.verify import check_int8, verify_bundle
from robostral.language.runtime import InstructionEncoder
from robostral.runtime.session import policy_session, run_instruction_head, run_policy, step_inputs
from sim.language import check_instruction

DEFAULT_ENSEMBLE_DECAY = 0.01  # ACT's m: weight exp(-m * i), i = 0 for the oldest prediction
CONDITION_CACHE_SIZE = 256  # distinct instruction embeddings whose condition is kept, least recently used out


class PolicyRuntime:
    """A verified bundle, ready to predict: ``predict_chunks`` for batches, ``controller`` for control loops.

    ``trusted_keys``: public key files the bundle's signature must match; ``None``
    takes them from ``ROBOSTRAL_TRUSTED_KEYS``, and with no keys at all only the
    hashes are checked. A bundle that fails is refused with a BundleError, and so is
    ``int8=True`` on a bundle whose card does not vouch for its int8 variant (``check_int8``).
    ``device="cuda"`` runs the policy graph on a GPU (see ``policy_session``).
    """

    def __init__(
        self,
        bundle: str | os.PathLike,
        *,
        threads: int = 2,
        int8: bool = False,
        device: str = "cpu",
        trusted_keys: Sequence[str | os.PathLike] | None = None,
    ) -> None:
        self.path = Path(bundle)
        self.card = verify_bundle(self.path, trusted_keys).card  # policy.onnx, the encoder and its tokenizer
        if int8:
            check_int8(self.path, self.card)
        self.session = policy_session(self.path / (POLICY_INT8_FILE if int8 else POLICY_FILE), threads, device)
        self.instruction_head = policy_session(self.path / INSTRUCTION_FILE, threads=1)
        self._conditions: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.encoder = InstructionEncoder(self.path, threads=1)
        card = self.card
        self.image_shape, self.wrist_shape = card.image_shape, card.wrist_shape  # wrist: None without one
        self.input_names = step_inputs(card.wrist_camera)
        self.state_dim, self.language_dim = card.state_dim, card.language_dim
        if self.encoder.dim != self.language_dim:
            raise ValueError(f"{self.path}: its encoder gives {self.encoder.dim}-float embeddings, "
                             f"its policy takes {self.language_dim}")
        self.chunk_size, self.action_dim, self.control_hz = card.chunk_size, card.action_dim, float(card.control_hz)
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the graph a few times so the first real call is not the slow one."""
        image = np.zeros((1, *self.image_shape), dtype=np.uint8)
        state = np.zeros((1, self.state_dim), dtype=np.float32)
        language = np.zeros((1, self.language_dim), dtype=np.float32)
        wrist = None if self.wrist_shape is None else np.zeros((1, *self.wrist_shape), dtype=np.uint8)
        for _ in range(3):
            self.predict_chunks(image, state, language, wrist)

    def embed(self, instruction: str) -> np.ndarray:
        """The instruction's embedding (language_dim,), computed once per distinct instruction.

        ValueError for text ``check_instruction`` refuses (the controllers embed through here too).
        """
        return self.encoder.encode(check_instruction(instruction))

    def predict_chunks(
        self, image: np.ndarray, state: np.ndarray, language: np.ndarray, wrist_image: np.ndarray | None = None
    ) -> np.ndarray:
        """Action chunks (B, K, A) in joint units for a batch; ValueError naming any bad input.

        ``wrist_image`` is the wrist camera's frame, for (and only for) a bundle that takes one.
        """
        image, state, language, *wrist = self._validate(image, state, language, wrist_image)
        inputs = (image, state, self.conditions(language), *wrist)
        chunks = run_policy(self.session, dict(zip(self.input_names, inputs)))
        if not np.isfinite(chunks).all():
            raise ValueError("the policy produced NaN or infinite joint targets; refusing to pass them on")
        return chunks

    def conditions(self, language: np.ndarray) -> np.ndarray:
        """The instruction head's output (B, condition_dim) for embeddings (B, language_dim), each computed once.

        Keyed by the embedding's bytes: a control loop repeats one instruction's embedding every step.
        """
        keys = [row.tobytes() for row in language]
        missing = list(dict.fromkeys(key for key in keys if key not in self._conditions))
        if missing:
            computed = run_instruction_head(self.instruction_head,
                                            np.stack([np.frombuffer(key, np.float32) for key in missing]))
            self._conditions.update(zip(missing, computed))
        for key in keys:
            self._conditions.move_to_end(key)
        rows = np.stack([self._conditions[key] for key in keys])
        while len(self._conditions) > CONDITION_CACHE_SIZE:
            self._conditions.popitem(last=False)
        return rows

    def controller(self, batch: int = 1, decay: float = DEFAULT_ENSEMBLE_DECAY) -> ChunkController:
        return ChunkController(self, batch, decay)

    def _validate(self, image, state, language, wrist_image) -> tuple[np.ndarray, ...]:
        image, state, language = np.asarray(image), np.asarray(state), np.asarray(language)
        _check_image("image", image, self.image_shape)
        batch = image.shape[0]
        if (wrist_image is None) != (self.wrist_shape is None):
            needed = "takes a wrist camera image" if self.wrist_shape else "has no wrist camera: pass no wrist image"
            raise ValueError(f"this bundle {needed}")
        wrist = () if wrist_image is None else (np.ascontiguousarray(wrist_image),)
        if wrist:
            _check_image("wrist image", wrist[0], self.wrist_shape)
            if len(wrist[0]) != batch:
                raise ValueError(f"{len(wrist[0])} wrist images for a batch of {batch}")
        if state.shape != (batch, self.state_dim):
            raise ValueError(f"state must be ({batch}, {self.state_dim}), got {state.shape}")
        if language.shape != (batch, self.language_dim):
            raise ValueError(f"language must be ({batch}, {self.language_dim}), got {language.shape}")
        for name, value in (("state", state), ("language", language)):
            if not np.isfinite(value).all():
                raise ValueError(f"{name} contains NaN or infinite values")
        return (
            np.ascontiguousarray(image),
            np.ascontiguousarray(state, dtype=np.float32),
            np.ascontiguousarray(language, dtype=np.float32),
            *wrist,  # last: the graph's input order (policy_inputs)
        )


def _check_image(name: str, image: np.ndarray, shape: tuple[int, ...]) -> None:
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 4 or image.shape[1:] != shape:
        raise ValueError(f"{name} must be (batch, {', '.join(map(str, shape))}), got {image.shape}")


class ChunkController:
    """One action per control step for each of ``batch`` envs, by temporal ensembling of chunks.

    Every step the policy predicts a fresh chunk of K future targets; the target
    executed at step t averages every stored prediction for t, weighted
    ``exp(-decay * i)`` with i = 0 for the oldest (ACT, Zhao et al. 2023).
    """

    def __init__(self, runtime: PolicyRuntime, batch: int, decay: float) -> None:
        self.runtime = runtime
        self.batch = batch
        self.decay = decay
        k, a = runtime.chunk_size, runtime.action_dim
        # predictions[i, s, k]: the chunk made s steps ago for env i, shifted so k indexes "now + k".
        self.predictions = np.zeros((batch, k, k, a), dtype=np.float32)
        self.valid = np.zeros((batch, k, k), dtype=bool)
        ages = np.arange(k)
        # age_weights[0, s, 0]: for the prediction made s steps ago; the oldest weighs most.
        self.age_weights = np.exp(-decay * (ages.max() - ages))[None, :, None]

    def _rows(self, envs: Sequence[int]) -> np.ndarray:
        rows = np.asarray(envs, dtype=int)
        if rows.size and (len(np.unique(rows)) != len(rows) or rows.min() < 0 or rows.max() >= self.batch):
            raise ValueError(f"envs must be distinct indices in 0..{self.batch - 1}, got {list(rows)}")
        return rows

    def reset(self, index: int | None = None) -> None:
        """Forget the history of env ``index`` (all envs when None), e.g. at an episode start."""
        if index is None:
            self.valid[:] = False
        else:
            self.valid[index] = False

    def act(
        self, image: np.ndarray, state: np.ndarray, instructions: Sequence[str], envs: Sequence[int] | None = None,
        wrist_image: np.ndarray | None = None,
    ) -> np.ndarray:
        """Targets (B, A) for this step from the current observations and each env's instruction."""
        return self.act_chunk(image, state, instructions, envs, wrist_image)[:, 0]

    def act_chunk(
        self, image: np.ndarray, state: np.ndarray, instructions: Sequence[str], envs: Sequence[int] | None = None,
        wrist_image: np.ndarray | None = None,
    ) -> np.ndarray:
        """Targets (B, K, A) for this step and the K - 1 after it, each ensembled over every stored prediction.

        Entry 0 is what ``act`` executes now; the rest is the plan a trajectory message carries.
        ``envs``: which envs of the batch the B observations belong to (default: all, in order); the
        others are neither computed nor aged, so an idle env costs no inference.
        """
        rows = slice(None) if envs is None else self._rows(envs)  # a slice: the histories as views, no copy
        count = self.batch if envs is None else len(rows)
        if len(instructions) != count:
            raise ValueError(f"{len(instructions)} instructions for a batch of {count}")
        language = np.stack([self.runtime.embed(text) for text in instructions])
        chunks = self.runtime.predict_chunks(image, state, language, wrist_image)
        predictions, valid = self.predictions[rows], self.valid[rows]
        # Age every stored chunk by one step: row s -> s + 1, and its entries shift one step closer.
        predictions[:, 1:, :-1] = predictions[:, :-1, 1:]
        valid[:, 1:, :-1] = valid[:, :-1, 1:]
        valid[:, :, -1] = False
        predictions[:, 0] = chunks
        valid[:, 0] = True
        if envs is not None:  # an index list selected copies: store them back
            self.predictions[rows], self.valid[rows] = predictions, valid
        weights = self.age_weights * valid
        return np.einsum("bsk,bska->bka", weights, predictions) / weights.sum(axis=1)[:, :, None]
