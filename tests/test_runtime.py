"""The deployed runtime on a real bundle: no torch, refused bundles, input checks, cached instructions, ensembling."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import copy_bundle

from robostral.bundle.card import BundleError, read_card, write_card
from robostral.bundle.signing import generate_keypair, sign_bundle
from robostral.bundle.verify import TRUSTED_KEYS_ENV
from robostral.data import load_dataset
from robostral.runtime import PolicyRuntime
from robostral.runtime.session import run_instruction_head
from robostral.training.batches import IMAGE, STATE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def runtime(pipeline) -> PolicyRuntime:
    return PolicyRuntime(pipeline.bundle)


@pytest.fixture(scope="module")
def frames(pipeline):
    """(images, states, instructions) of every dataset frame, in order."""
    data = load_dataset(pipeline.dataset)
    arrays = data.load_arrays([IMAGE, STATE, "task_index"])
    return arrays[IMAGE], arrays[STATE], [data.tasks[i] for i in arrays["task_index"]]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Two key pairs: the site's own and some other site's, as (private, public) PEM files."""
    root = tmp_path_factory.mktemp("keys")
    pairs = {name: (root / f"{name}.pem", root / f"{name}.pub") for name in ("site", "other")}
    for private, public in pairs.values():
        generate_keypair(private, public)
    return pairs


NO_TORCH = """
import sys

class NoTorch:  # a deployment has no torch: importing it must fail, as it would there
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("the runtime imported torch")

sys.meta_path.insert(0, NoTorch())
import numpy as np
from robostral.runtime import PolicyRuntime

runtime = PolicyRuntime(sys.argv[1])  # trusted keys from ROBOSTRAL_TRUSTED_KEYS
controller = runtime.controller(batch=2)
image = np.zeros((2, *runtime.image_shape), np.uint8)
state = np.zeros((2, runtime.state_dim), np.float32)
for _ in range(3):
    targets = controller.act(image, state, ["move the gripper to the red target", "pick up the blue cube"])
assert targets.shape == (2, runtime.action_dim) and np.isfinite(targets).all()
assert not [name for name in sys.modules if name.split(".")[0] == "torch"]
print("ran without torch")
"""


def test_runtime_runs_without_torch_and_honours_trusted_keys_from_the_environment(pipeline, keys, tmp_path):
    signed = copy_bundle(pipeline.bundle, tmp_path / "signed")
    sign_bundle(signed, keys["site"][0])
    env = {**os.environ, TRUSTED_KEYS_ENV: f"{keys['other'][1]}{os.pathsep}{keys['site'][1]}"}

    def run(bundle):
        command = [sys.executable, "-c", NO_TORCH, str(bundle)]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    result = run(signed)
    assert result.returncode == 0 and "ran without torch" in result.stdout, result.stderr
    result = run(pipeline.bundle)  # the same bundle, unsigned: this site trusts only signed ones
    assert result.returncode != 0 and "unsigned (no card.sig)" in result.stderr


def flip_byte(path: Path, offset: int = -64) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(data)


def edit_card(bundle: Path, change) -> None:
    card = read_card(bundle)
    change(card)
    write_card(bundle, card)


TAMPERINGS = {
    "flipped byte in policy.onnx": (lambda b: flip_byte(b / "policy.onnx"), r"policy.onnx has sha256 .* tampered"),
    "flipped byte in policy_int8.onnx": (lambda b: flip_byte(b / "policy_int8.onnx"), "policy_int8.onnx has sha256"),
    "tokenizer.json deleted": (lambda b: (b / "tokenizer.json").unlink(), "tokenizer.json is missing"),
    "card edited: another hash": (
        lambda b: edit_card(b, lambda c: c.files.update({"policy.onnx": "0" * 64})),
        "policy.onnx has sha256 .* the card says 0000",
    ),
    "card edited: tokenizer dropped with its file": (
        lambda b: (edit_card(b, lambda c: c.files.pop("tokenizer.json")), (b / "tokenizer.json").unlink()),
        "incomplete, the card lists no tokenizer.json",
    ),
    "card edited: a path outside the bundle": (
        lambda b: edit_card(b, lambda c: c.files.update({"../card.yaml": "0" * 64})),
        "the card lists '../card.yaml', not a file name inside the bundle",
    ),
    "card.yaml deleted": (lambda b: (b / "card.yaml").unlink(), "no card.yaml; not a policy bundle"),
    "card.yaml not a card": (lambda b: (b / "card.yaml").write_text("- a list\n"), "expected format"),
}


@pytest.mark.parametrize("tamper", TAMPERINGS)
def test_tampered_or_incomplete_bundles_are_refused(pipeline, tmp_path, tamper):
    change, message = TAMPERINGS[tamper]
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    change(bundle)
    with pytest.raises(BundleError, match=message):
        PolicyRuntime(bundle, int8="int8" in tamper, trusted_keys=[])


def signed_copy(pipeline, tmp_path, key: Path | None) -> Path:
    bundle = copy_bundle(pipeline.bundle, tmp_path / "bundle")
    if key is not None:
        sign_bundle(bundle, key)
    return bundle


def test_trusted_keys_refuse_unsigned_and_foreign_bundles(pipeline, keys, tmp_path, monkeypatch):
    trusted = [keys["site"][1]]
    with pytest.raises(BundleError, match="unsigned"):
        PolicyRuntime(signed_copy(pipeline, tmp_path / "unsigned", None), trusted_keys=trusted)
    with pytest.raises(BundleError, match="does not match any trusted key"):
        PolicyRuntime(signed_copy(pipeline, tmp_path / "foreign", keys["other"][0]), trusted_keys=trusted)

    edited = signed_copy(pipeline, tmp_path / "edited", keys["site"][0])
    edit_card(edited, lambda card: setattr(card, "evaluation", {"tasks": {"reach": {"ci_low": 1.0, "episodes": 999}}}))
    with pytest.raises(BundleError, match="does not match any trusted key"):
        PolicyRuntime(edited, trusted_keys=trusted)

    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(keys["site"][1]))
    with pytest.raises(BundleError, match="unsigned"):
        PolicyRuntime(signed_copy(pipeline, tmp_path / "unsigned-env", None))
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(tmp_path / "missing.pub"))  # a misconfigured site fails loudly
    with pytest.raises(FileNotFoundError, match="missing.pub"):
        PolicyRuntime(pipeline.bundle)


def test_a_bundle_signed_by_a_trusted_key_runs(pipeline, keys, tmp_path, frames, runtime):
    bundle = signed_copy(pipeline, tmp_path, keys["site"][0])
    signed = PolicyRuntime(bundle, trusted_keys=[keys["other"][1], keys["site"][1]])
    images, states, instructions = frames
    language = signed.encoder.encode_batch(instructions[:4])
    expected = runtime.predict_chunks(images[:4], states[:4], language)
    np.testing.assert_array_equal(signed.predict_chunks(images[:4], states[:4], language), expected)


def test_int8_runtime_stays_close_to_fp32(pipeline, frames, runtime):
    quantized = PolicyRuntime(pipeline.bundle, int8=True)
    images, states, instructions = frames
    language = runtime.encoder.encode_batch(instructions)
    fp32 = runtime.predict_chunks(images, states, language)
    assert 0 < np.abs(quantized.predict_chunks(images, states, language) - fp32).max() < 0.05


def good_inputs(runtime, frames, batch: int = 2):
    images, states, instructions = frames
    return images[:batch].copy(), states[:batch].copy(), runtime.encoder.encode_batch(instructions[:batch])


BAD_INPUTS = {
    "float image": (lambda i, s, lang: (i.astype(np.float32), s, lang), "image must be uint8 RGB, got dtype float32"),
    "wrong image size": (
        lambda i, s, lang: (np.zeros((2, 64, 64, 3), np.uint8), s, lang),
        r"image must be \(batch, 32, 32, 3\), got \(2, 64, 64, 3\)",
    ),
    "image without batch": (lambda i, s, lang: (i[0], s, lang), r"image must be \(batch, 32, 32, 3\)"),
    "state too short": (lambda i, s, lang: (i, s[:, :7], lang), r"state must be \(2, 15\), got \(2, 7\)"),
    "batch sizes differ": (
        lambda i, s, lang: (i, np.concatenate([s, s]), lang), r"state must be \(2, 15\), got \(4, 15\)"
    ),
    "NaN state": (lambda i, s, lang: (i, np.where(np.arange(15) == 3, np.nan, s), lang), "state contains NaN"),
    "infinite embedding": (lambda i, s, lang: (i, s, lang * np.inf), "language contains NaN or infinite"),
    "wrong embedding size": (lambda i, s, lang: (i, s, lang[:, :128]), r"language must be \(2, 384\), got \(2, 128\)"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_get_a_clear_error(runtime, frames, case):
    change, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        runtime.predict_chunks(*change(*good_inputs(runtime, frames)))


def test_controller_wants_one_instruction_per_env(runtime, frames):
    images, states, _ = good_inputs(runtime, frames)
    with pytest.raises(ValueError, match="1 instructions for a batch of 2"):
        runtime.controller(batch=2).act(images, states, ["pick up the red cube"])


def test_a_controller_steps_only_the_envs_it_is_given(runtime, frames):
    images, states, instructions = frames
    starts = (0, 30, 60)  # each env walks through its own stretch of the dataset
    texts = [instructions[start] for start in starts]
    shared = runtime.controller(batch=3)
    alone = [runtime.controller(batch=1) for _ in texts]
    for step in range(6):
        envs = [0, 1, 2] if step % 2 == 0 else [0, 2]  # env 1 idles every other step: not computed, not aged
        rows = [starts[env] + step for env in envs]
        targets = shared.act(images[rows], states[rows], [texts[env] for env in envs], envs)
        expected = [alone[env].act(images[[row]], states[[row]], [texts[env]])[0] for env, row in zip(envs, rows)]
        np.testing.assert_allclose(targets, np.stack(expected), atol=1e-5, err_msg=f"step {step}")
    for envs in ([0, 0], [3, 1], [-1, 0]):
        with pytest.raises(ValueError, match="envs must be distinct indices in 0..2"):
            shared.act(images[:2], states[:2], texts[:2], envs)


def test_instruction_embeddings_are_cached(runtime, frames):
    cache = runtime.encoder._cache
    text = "put the cube that only this test names on the target"
    assert text not in cache
    first = runtime.embed(text)
    size = len(cache)
    assert text in cache and first.shape == (384,) and abs(np.linalg.norm(first) - 1) < 1e-5
    np.testing.assert_array_equal(runtime.embed(text), first)
    controller = runtime.controller(batch=2)
    images, states, _ = good_inputs(runtime, frames)
    for _ in range(4):
        controller.act(images, states, [text, text])
    assert len(cache) == size  # encoded once, then served from the cache at every control step


class CountingSession:
    """An ONNX Runtime session that counts the rows it is run on."""

    def __init__(self, session) -> None:
        self.session, self.rows = session, 0

    def run(self, outputs, feeds):
        self.rows += len(next(iter(feeds.values())))
        return self.session.run(outputs, feeds)


def test_the_instruction_head_runs_once_per_instruction_and_each_step_runs_only_the_policy_graph(runtime, frames):
    images, states, _ = good_inputs(runtime, frames)
    head = runtime.instruction_head = CountingSession(runtime.instruction_head)
    try:
        texts = ["push the cube that only this test names to the target", "reach the target this test names"]
        controller = runtime.controller(batch=2)
        for _ in range(5):
            controller.act(images[:2], states[:2], texts)
        assert head.rows == 2  # once per instruction, then cached for every step
        controller.act(images[:2], states[:2], texts[::-1])
        assert head.rows == 2  # the same two instructions in other envs: still cached
        controller.act(images[:2], states[:2], [texts[0], "reach the target a third time"])
        assert head.rows == 3
    finally:
        runtime.instruction_head = head.session
    language = np.stack([runtime.embed(text) for text in texts])  # what is cached is what the head computes
    np.testing.assert_array_equal(runtime.conditions(language), run_instruction_head(head.session, language))


def test_a_batch_predicts_what_single_calls_predict(runtime, frames):
    images, states, language = good_inputs(runtime, frames, batch=8)
    batched = runtime.predict_chunks(images, states, language)
    singles = np.concatenate([runtime.predict_chunks(images[i : i + 1], states[i : i + 1], language[i : i + 1])
                              for i in range(8)])
    assert batched.shape == (8, 5, 8)
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    assert np.abs(batched[0] - batched[-1]).max() > 1e-3  # different frames, different chunks


class ReferenceEnsemble:
    """ACT's temporal ensembling written out plainly: every past chunk kept, weighted exp(-decay * i), i=0 oldest."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.chunks: list[tuple[int, np.ndarray]] = []  # (step it was predicted at, chunk (K, A))

    def act(self, step: int, chunk: np.ndarray) -> np.ndarray:
        self.chunks.append((step, chunk))
        predictions = [c[step - made] for made, c in self.chunks if step - made < len(c)]  # oldest first
        weights = np.exp(-self.decay * np.arange(len(predictions)))
        return (weights[:, None] * np.array(predictions)).sum(axis=0) / weights.sum()


@pytest.mark.parametrize("decay", [0.01, 0.5])
def test_temporal_ensembling_matches_act_and_reset_clears_one_env(runtime, frames, decay):
    images, states, instructions = frames
    envs = (0, 100)  # two envs, each walking through its own stretch of the dataset
    texts = [instructions[start] for start in envs]
    language = np.stack([runtime.embed(text) for text in texts])
    controller = runtime.controller(batch=2, decay=decay)
    references = [ReferenceEnsemble(decay) for _ in envs]
    for step in range(12):
        if step == 8:
            controller.reset(0)
            references[0] = ReferenceEnsemble(decay)
        rows = [start + step for start in envs]
        targets = controller.act(images[rows], states[rows], texts)
        chunks = runtime.predict_chunks(images[rows], states[rows], language)
        expected = [reference.act(step, chunk) for reference, chunk in zip(references, chunks)]
        np.testing.assert_allclose(targets, np.stack(expected), atol=1e-6, err_msg=f"step {step}")
        if step in (0, 8):  # a fresh history: env 0 executes its newest chunk's first target as it is
            np.testing.assert_allclose(targets[0], chunks[0, 0], atol=1e-6)
        if step == 8:  # env 1 kept its history: it still averages five chunks
            assert np.abs(targets[1] - chunks[1, 0]).max() > 1e-6


def test_the_ensembled_chunk_averages_every_stored_plan_for_each_future_step(runtime, frames):
    images, states, instructions = frames
    controller, texts = runtime.controller(batch=1, decay=0.2), [instructions[0]]
    language = runtime.embed(texts[0])[None]
    chunks = []
    for step in range(4):
        planned = controller.act_chunk(images[step : step + 1], states[step : step + 1], texts)[0]
        chunks.append(runtime.predict_chunks(images[step : step + 1], states[step : step + 1], language)[0])
        for k in range(len(planned)):  # every chunk made s steps ago that still covers now + k
            stored = [(s, chunks[step - s][k + s]) for s in range(step + 1) if k + s < runtime.chunk_size]
            weights = np.array([np.exp(-0.2 * (runtime.chunk_size - 1 - s)) for s, _ in stored])
            expected = (weights[:, None] * np.stack([p for _, p in stored])).sum(axis=0) / weights.sum()
            np.testing.assert_allclose(planned[k], expected, atol=1e-5, err_msg=f"step {step}, k {k}")


def test_the_card_shapes_are_what_the_runtime_takes(runtime, pipeline):
    card = yaml.safe_load((pipeline.bundle / "card.yaml").read_text())  # the file, as any reader of it sees it
    assert runtime.image_shape == tuple(card["inputs"]["image"]["shape"][1:]) == (32, 32, 3)
    assert (runtime.state_dim, runtime.chunk_size, runtime.action_dim) == (15, 5, 8)
    assert runtime.control_hz == 20.0
