"""``card.yaml`` read into a typed ``Card``: every key checked, written back byte for byte."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from cards import SHIPPED, make_card

from robostral.bundle.card import CARD_FILE, BundleError, JointLimits, read_card, write_card


def test_the_shipped_card_is_written_back_byte_for_byte(tmp_path):
    card = read_card(SHIPPED)
    committed = (SHIPPED / CARD_FILE).read_text()
    assert yaml.safe_dump(card.as_dict(), sort_keys=False, width=120) == committed
    write_card(tmp_path, card)
    assert (tmp_path / CARD_FILE).read_text() == committed
    assert read_card(tmp_path) == card


def test_the_card_is_typed_and_says_what_code_derives_from_it():
    card = read_card(SHIPPED)
    assert isinstance(card.joint_limits, JointLimits) and len(card.joint_limits.upper) == card.action_dim == 8
    assert (card.image_shape, card.image_size, card.wrist_shape) == ((96, 96, 3), 96, (96, 96, 3))
    assert card.wrist_camera and (card.state_dim, card.language_dim) == (15, 768)
    assert card.encoder_pooling == "mean+order" and card.gate_name == "preview"
    assert card.dataset == "datasets/panda-fresh-wrist" and card.trainable_parameters == 1759184
    assert "trainable_parameters" not in card.network_settings and card.network_settings["hidden_dim"] == 512


def test_optional_keys_are_left_out_when_absent_and_old_cards_pool_by_mean(tmp_path):
    card = make_card(lineage=None, failure_analysis=None, limitations=None, encoder={"file": "encoder.onnx"},
                     inputs={k: v for k, v in read_card(SHIPPED).inputs.items() if k != "wrist_image"})
    write_card(tmp_path, card)
    values = yaml.safe_load((tmp_path / CARD_FILE).read_text())
    assert list(values)[-1] == "files" and "license" not in values
    assert card.encoder_pooling == "mean" and not card.wrist_camera and card.wrist_shape is None


@pytest.mark.parametrize(("change", "message"), [
    (lambda v: v.pop("network"), "an incomplete card, it has no network"),
    (lambda v: v.update(chunk_size="ten"), "Card.chunk_size must be int, got 'ten'"),
    (lambda v: v.update(joint_names="panda_joint1"), "Card.joint_names must be list"),
    (lambda v: v.update(files={"policy.onnx": 7}), "Card.files must be dict"),
    (lambda v: v.update(colour="red"), "unknown key.* colour"),
    (lambda v: v["joint_limits"].update(velocity=[1.0]), "joint_limits.velocity has 1 values for 8 joints"),
    (lambda v: v["inputs"].pop("state"), "inputs has no .* shape for state"),
    (lambda v: v.update(format="robostral-policy-bundle/0"), "expected format"),
])
def test_a_bad_card_is_refused_naming_its_file_and_key(tmp_path, change, message):
    values = read_card(SHIPPED).as_dict()
    change(values)
    (tmp_path / CARD_FILE).write_text(yaml.safe_dump(values, sort_keys=False))
    with pytest.raises(BundleError, match=message) as refused:
        read_card(tmp_path)
    assert str(refused.value).startswith(str(tmp_path / CARD_FILE))


def test_test_cards_are_checked_as_read_cards_are():
    assert make_card(name="renamed") == dataclasses.replace(read_card(SHIPPED), name="renamed")
    with pytest.raises(BundleError, match="Card.control_hz must be float"):
        make_card(control_hz="fast")
