"""The model card (README.md) of a policy bundle is generated from its card.yaml and cannot drift from it."""

from __future__ import annotations

import copy
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cards import SHIPPED, make_card

from robostral.bundle.card import Card, read_card, verify_files, write_card
from robostral.bundle.model_card import MODEL_CARD_FILE, NOT_RECORDED, render_model_card, write_model_card

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("lineage", "failure_analysis", "limitations")


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    assert body, "no closing --- after the front matter"
    return yaml.safe_load(head)


def minimal_card() -> Card:
    """What `robostral export` writes, before any evaluation, and none of the optional keys."""
    return make_card(**dict.fromkeys((*OPTIONAL, "evaluation")))


def test_committed_model_card_is_the_rendered_card():
    committed = (SHIPPED / MODEL_CARD_FILE).read_text()
    assert committed == render_model_card(read_card(SHIPPED)), (
        "policies/robostral-s-panda/README.md is stale: "
        "run `python -m robostral.bundle.model_card policies/robostral-s-panda`")


def test_shipped_front_matter_is_a_hugging_face_model_card():
    meta = front_matter((SHIPPED / MODEL_CARD_FILE).read_text())
    assert meta["pipeline_tag"] == "robotics"
    assert meta["license"] and meta["library_name"] == "onnx" and "robotics" in meta["tags"]
    [model] = meta["model-index"]
    card = read_card(SHIPPED)
    by_dataset = {result["dataset"]["type"]: result for result in model["results"]}
    pick = {m["type"]: m["value"] for m in by_dataset["robostral/PickPlace-v0"]["metrics"]}
    assert pick["success_rate"] == round(100 * card.evaluation["tasks"]["pick_place"]["success_rate"], 1)


def test_shipped_card_sections_and_numbers():
    text = (SHIPPED / MODEL_CARD_FILE).read_text()
    for section in ("Model details", "Intended use", "Out-of-scope use", "Training data", "Training procedure",
                    "Evaluation", "Failure analysis", "Limitations", "How to reproduce", "Files"):
        assert f"\n## {section}\n" in text
    assert "preview" in text and "runs unattended" in text
    assert "| stack | 200 | 75.0% (68.6-80.5%) |" in text  # the card's own interval
    # a stage's measured change, with the Wilson intervals computed from its rates and episodes
    assert "86.6% (84.1-88.8%) -> 90.0% (87.7-91.9%) (800 episodes; p = 0.008" in text
    for name, digest in read_card(SHIPPED).files.items():
        assert f"| `{name}` | `{digest}` |" in text
    for stage in read_card(SHIPPED).lineage:
        assert f"`{stage['config']}`" in text


def test_minimal_card_renders_with_sections_not_recorded():
    text = render_model_card(minimal_card())
    meta = front_matter(text)
    assert meta["pipeline_tag"] == "robotics" and "model-index" not in meta  # nothing evaluated yet
    for section in ("Failure analysis", "Limitations"):
        assert f"## {section}\n\n{NOT_RECORDED}" in text
    assert "Stage lineage: " + NOT_RECORDED in text
    assert "## Evaluation\n\n" + NOT_RECORDED in text
    assert "## How to reproduce" in text and "robostral train --config configs/robostral-s-panda-roles.yaml" in text


def test_bare_card_renders():
    """Even a card whose sections hold hardly anything renders, and its front matter parses."""
    empty = dict.fromkeys(("encoder", "network", "training", "export"), {}) | dict.fromkeys((*OPTIONAL, "evaluation"))
    text = render_model_card(make_card(name="bare", gate=None, **empty))
    assert front_matter(text)["pipeline_tag"] == "robotics"
    assert "# bare" in text


def test_render_is_pure():
    card = read_card(SHIPPED)
    before = copy.deepcopy(card)
    assert render_model_card(card) == render_model_card(card)
    assert card == before


def test_write_model_card_keeps_the_bundle_valid(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "policy.onnx").write_bytes(b"")
    card = minimal_card()
    card.files = {"policy.onnx": hashlib.sha256(b"").hexdigest()}
    write_card(bundle, card)
    path = write_model_card(bundle)
    assert path == bundle / MODEL_CARD_FILE and path.read_text() == render_model_card(card)
    verify_files(bundle, read_card(bundle))  # README.md is not in files: the hashes still hold


def test_module_entry_point(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_card(bundle, minimal_card())
    done = subprocess.run([sys.executable, "-m", "robostral.bundle.model_card", str(bundle)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (bundle / MODEL_CARD_FILE).read_text() == render_model_card(read_card(bundle))
    missing = subprocess.run([sys.executable, "-m", "robostral.bundle.model_card", str(tmp_path / "none")],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "not a policy bundle" in missing.stderr


@pytest.mark.parametrize("key", OPTIONAL)
def test_optional_keys_do_not_touch_the_hashed_part(key):
    """The keys the model card reads are additions: the card's files section is what export wrote."""
    values = yaml.safe_load((SHIPPED / "card.yaml").read_text())
    assert key in values
    assert list(values)[-4:] == ["files", *OPTIONAL]
