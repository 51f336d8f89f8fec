"""The frozen MiniLM-L6 instruction encoder: torch model, deterministic ONNX export, torch-free runtime."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from cards import make_card

import robostral
from robostral.bundle.card import ENCODER_FILE, TOKENIZER_FILE, read_card, sha256_file, write_card
from robostral.export.encoder import PARITY_TOLERANCE, check_parity, export_encoder
from robostral.export.encoder import main as export_main
from robostral.export.onnx_graph import OPSET
from robostral.language import EMBEDDING_DIM, POOLINGS
from robostral.language.minilm import PACKAGE_DIR, MiniLMEncoder
from robostral.language.runtime import InstructionEncoder
from robostral.language.tokenizer import MAX_TOKENS, tokenize

REPO = Path(__file__).resolve().parents[1]
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

INSTRUCTIONS = [
    "pick up the red cube and put it in the blue bin",
    "stack the green block on top of the yellow block",
    "reach",
    "Slide the ORANGE cube into the purple zone, please.",
]


@pytest.fixture(scope="module")
def torch_encoder() -> MiniLMEncoder:
    return MiniLMEncoder.from_package()


@pytest.fixture(scope="module")
def order_encoder() -> MiniLMEncoder:
    return MiniLMEncoder.from_package("mean+order")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """One export (parity-checked by ``export_encoder`` itself) shared by the module."""
    out = tmp_path_factory.mktemp("encoder")
    return out, export_encoder(out, cache=False)


@pytest.fixture(scope="module")
def runtime(exported) -> InstructionEncoder:
    return InstructionEncoder(exported[0])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_torch_encoder_matches_transformers_bert_with_mean_pooling(torch_encoder, monkeypatch):
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(key, "1")
    from transformers import BertModel

    reference = BertModel.from_pretrained(str(PACKAGE_DIR), local_files_only=True).eval()
    ids, mask = (torch.from_numpy(a) for a in tokenize(torch_encoder.tokenizer, INSTRUCTIONS))
    with torch.no_grad():
        tokens = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask[..., None].float()
    expected = torch.nn.functional.normalize((tokens * weights).sum(1) / weights.sum(1), dim=1)
    got = torch_encoder.encode(INSTRUCTIONS)
    assert got.shape == (len(INSTRUCTIONS), EMBEDDING_DIM) and got.dtype == torch.float32
    assert (got - expected).abs().max().item() <= 1e-5


def test_torch_encoder_is_frozen(torch_encoder):
    assert not torch_encoder.training
    assert not any(p.requires_grad for p in torch_encoder.parameters())


def test_tokenizer_follows_the_sentence_transformers_config(torch_encoder):
    config = json.loads((PACKAGE_DIR / "sentence_bert_config.json").read_text())
    assert config["max_seq_length"] == MAX_TOKENS
    ids, mask = tokenize(torch_encoder.tokenizer, ["Pick UP", "the red cube now"])
    assert ids.dtype == mask.dtype == np.int64
    assert ids.shape == mask.shape == (2, 6)  # [CLS] the red cube now [SEP]; the first padded to it
    assert mask.tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    long_ids, _ = tokenize(torch_encoder.tokenizer, ["cube " * 1000])
    assert long_ids.shape == (1, MAX_TOKENS)


def test_onnx_runtime_matches_torch_one_by_one_and_batched(torch_encoder, runtime):
    expected = torch_encoder.encode(INSTRUCTIONS).numpy()
    batched = runtime.run(INSTRUCTIONS)
    singles = np.concatenate([runtime.run([text]) for text in INSTRUCTIONS])
    assert batched.dtype == np.float32 and batched.shape == expected.shape
    assert np.abs(batched - expected).max() <= 1e-5
    assert np.abs(singles - expected).max() <= 1e-5


def test_encoder_graph_signature(exported):
    model = onnx.load(exported[0] / ENCODER_FILE)

    def signature(values):
        return [
            (v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in values
        ]

    int64, float32 = onnx.TensorProto.INT64, onnx.TensorProto.FLOAT
    assert signature(model.graph.input) == [
        ("input_ids", int64, ["batch", "tokens"]),
        ("attention_mask", int64, ["batch", "tokens"]),
    ]
    assert signature(model.graph.output) == [("embedding", float32, ["batch", EMBEDDING_DIM])]
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]


def test_export_is_byte_for_byte_deterministic(exported, tmp_path):
    """A second export, from the CLI in another process with another hash seed, gives the same bytes."""
    first, hashes = exported
    env = {**OFFLINE, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "robostral.export.encoder", str(tmp_path), "--no-cache"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert set(hashes) == {ENCODER_FILE, TOKENIZER_FILE}
    for name, digest in hashes.items():
        assert hashlib.sha256((first / name).read_bytes()).hexdigest() == digest
        assert (tmp_path / name).read_bytes() == (first / name).read_bytes()
        assert f"{digest}  {tmp_path / name}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(hashes)  # no staging leftovers
    model = (first / ENCODER_FILE).read_bytes()
    assert str(Path(robostral.__file__).parent).encode() not in model  # no source paths, stack traces
    assert b"pkg.torch" not in model


def test_check_parity_refuses_an_encoder_that_differs(exported):
    changed = MiniLMEncoder.from_package()
    with torch.no_grad():
        changed.layers[-1].ffn_norm.bias += 1e-3
    with pytest.raises(RuntimeError, match="differs from torch"):
        check_parity(changed, exported[0])
    assert check_parity(MiniLMEncoder.from_package(), exported[0]) <= PARITY_TOLERANCE


def test_runtime_imports_no_torch(exported):
    code = (
        "import sys\n"
        "from robostral.language.runtime import InstructionEncoder\n"
        f"vector = InstructionEncoder({str(exported[0])!r}).encode('pick up the red cube')\n"
        "assert vector.shape == (384,), vector.shape\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'onnx', 'safetensors') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**OFFLINE, "PYTHONPATH": str(REPO)}, check=True, timeout=120)


def test_repeated_instruction_is_served_from_the_cache(exported, monkeypatch):
    encoder = InstructionEncoder(exported[0], cache_size=2)
    batches = []  # batch size of every real session run
    run = encoder.session.run

    def counted(names, feeds):
        batches.append(len(feeds["input_ids"]))
        return run(names, feeds)

    monkeypatch.setattr(encoder.session, "run", counted)

    red = encoder.encode("pick up the red cube")
    again = encoder.encode("pick up the red cube")
    assert batches == [1]
    np.testing.assert_array_equal(red, again)
    red[:] = 0  # the caller's copy; the cached embedding is untouched
    assert np.linalg.norm(encoder.encode("pick up the red cube")) == pytest.approx(1.0, abs=1e-6)
    assert batches == [1]

    encoder.encode_batch(["pick up the blue cube", "pick up the red cube", "pick up the blue cube", "reach"])
    assert batches == [1, 2]  # blue and reach in one batch, once each; red cached
    encoder.encode("pick up the red cube")  # evicted: the cache holds the 2 most recent (blue, reach)
    assert batches == [1, 2, 1]


def test_batch_and_single_encodings_agree(exported):
    single = np.stack([InstructionEncoder(exported[0]).encode(text) for text in INSTRUCTIONS])
    batch = InstructionEncoder(exported[0]).encode_batch(INSTRUCTIONS)
    assert batch.shape == (len(INSTRUCTIONS), EMBEDDING_DIM) and batch.dtype == np.float32
    assert np.abs(batch - single).max() <= 1e-6
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_embeddings_carry_the_meaning_of_the_instruction(runtime):
    """Facts of all-MiniLM-L6-v2 that the policy relies on (it is frozen, so they cannot drift)."""
    texts = ["pick up the red cube", "grab the red cube", "pick up the blue cube", "pick up the green cube"]
    red, grab_red, blue, green, drawer = runtime.encode_batch([*texts, "open the drawer"])
    assert cosine(red, grab_red) > max(cosine(red, blue), cosine(red, green)) + 0.05  # a paraphrase beats a colour
    assert cosine(red, blue) < 0.9  # the colour word moves the embedding
    assert cosine(red, drawer) < 0.5 and cosine(red, blue) > 0.7  # another task is further than another colour
    np.testing.assert_allclose(runtime.encode("PICK UP THE RED CUBE"), red, atol=1e-6)  # lowercased


def test_truncation_ignores_what_comes_after_max_tokens(runtime):
    head = "reach the target " * 100  # 300 word pieces: beyond MAX_TOKENS already
    np.testing.assert_allclose(runtime.encode(head + "red"), runtime.encode(head + "blue"), atol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda e: e.encode(""), ValueError, "empty"),
        (lambda e: e.encode(" \t\n"), ValueError, "empty"),
        (lambda e: e.encode(None), TypeError, "must be a str"),
        (lambda e: e.encode(b"pick"), TypeError, "must be a str"),
        (lambda e: e.encode_batch("pick up the red cube"), TypeError, "list of strings"),
        (lambda e: e.encode_batch([]), ValueError, "no instructions"),
        (lambda e: e.encode_batch(["reach", 3]), TypeError, "instruction 1"),
        (lambda e: e.encode_batch(["reach", ""]), ValueError, "instruction 1 is empty"),
    ],
)
def test_bad_instructions_are_refused(runtime, call, error, match):
    with pytest.raises(error, match=match):
        call(runtime)


def test_missing_or_corrupt_files_are_refused(exported, tmp_path):
    good = exported[0]
    with pytest.raises(FileNotFoundError, match="encoder.onnx"):
        InstructionEncoder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="threads"):
        InstructionEncoder(good, threads=0)

    (tmp_path / ENCODER_FILE).symlink_to(good / ENCODER_FILE)
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        InstructionEncoder(tmp_path)
    (tmp_path / TOKENIZER_FILE).write_text('{"version": "1.0", "model": ')
    with pytest.raises(ValueError, match="not a valid tokenizer.json"):
        InstructionEncoder(tmp_path)

    (tmp_path / TOKENIZER_FILE).unlink()
    (tmp_path / TOKENIZER_FILE).symlink_to(good / TOKENIZER_FILE)
    (tmp_path / ENCODER_FILE).unlink()
    (tmp_path / ENCODER_FILE).write_bytes((good / ENCODER_FILE).read_bytes()[:100_000])  # truncated download
    with pytest.raises(ValueError, match="not a loadable ONNX model"):
        InstructionEncoder(tmp_path)

    ids = onnx.helper.make_tensor_value_info("input_ids", onnx.TensorProto.INT64, ["b", "t"])
    out = onnx.helper.make_tensor_value_info("tokens", onnx.TensorProto.INT64, ["b", "t"])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["input_ids"], ["tokens"])], "g", [ids], [out])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    onnx.save(model, tmp_path / ENCODER_FILE)
    with pytest.raises(ValueError, match="not an instruction encoder"):
        InstructionEncoder(tmp_path)


# Two-object wordings, train and held-out, of sim.language: the first colour is the object to move.
ROLE_WORDINGS = ["stack the {a} cube on the {b} cube", "set the {a} cube atop the {b} one",
                 "build a tower with the {a} cube over the {b} cube", "put the {a} block in the {b} bin",
                 "the {a} cube belongs in the {b} tray"]


@pytest.mark.parametrize(("a", "b"), [("red", "blue"), ("green", "yellow")])
def test_mean_order_pooling_keeps_the_mean_and_tells_which_colour_comes_first(torch_encoder, order_encoder, a, b):
    forward = [w.format(a=a, b=b) for w in ROLE_WORDINGS]
    swapped = [w.format(a=b, b=a) for w in ROLE_WORDINGS]
    both = order_encoder.encode(forward + swapped).numpy()
    assert both.shape == (2 * len(ROLE_WORDINGS), POOLINGS["mean+order"])
    np.testing.assert_array_equal(both[: len(forward), :EMBEDDING_DIM], torch_encoder.encode(forward).numpy())

    mean, order, n = both[:, :EMBEDDING_DIM], both[:, EMBEDDING_DIM:], len(ROLE_WORDINGS)
    for i in range(n):  # swapping the roles barely moves the mean; the order vector moves several times as far
        assert 1 - cosine(order[i], order[n + i]) > 3 * (1 - cosine(mean[i], mean[n + i])), ROLE_WORDINGS[i]
    # ... and the same way whatever the wording, held-out ones included, so a linear read-out carries over
    shift = order[:n] - order[n:]
    assert min(cosine(shift[i], shift[j]) for i, j in itertools.combinations(range(n), 2)) > 0.8


def test_export_takes_the_pooling_its_bundle_card_names(order_encoder, tmp_path, capsys):
    write_card(tmp_path, make_card(encoder={"pooling": "mean+order"}))
    export_main([str(tmp_path), "--no-cache"])  # as `make encoders` runs it on every committed bundle, afresh
    runtime = InstructionEncoder(tmp_path)
    assert runtime.dim == POOLINGS["mean+order"]
    np.testing.assert_allclose(runtime.run(INSTRUCTIONS), order_encoder.encode(INSTRUCTIONS).numpy(),
                               atol=PARITY_TOLERANCE)
    assert str(tmp_path / ENCODER_FILE) in capsys.readouterr().out
    # The bytes each committed bundle pooled so names in its card: what a fresh clone's `make encoders` exports.
    for card in (read_card(bundle) for bundle in sorted((REPO / "policies").glob("*/"))):
        if card.encoder_pooling == "mean+order":
            assert {name: card.files[name] for name in (ENCODER_FILE, TOKENIZER_FILE)} == {
                name: sha256_file(tmp_path / name) for name in (ENCODER_FILE, TOKENIZER_FILE)}

    write_card(tmp_path, make_card(encoder={"pooling": "max"}))
    with pytest.raises(SystemExit):
        export_main([str(tmp_path)])
    assert "unknown instruction pooling 'max'" in capsys.readouterr().err
    assert InstructionEncoder(tmp_path).dim == POOLINGS["mean+order"]  # the last good export is left alone
