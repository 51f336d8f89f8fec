"""Exported encoders are kept and reused (robostral/export/encoder_cache.py): the same bytes, never changed ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from robostral.bundle.card import ENCODER_FILE, TOKENIZER_FILE, read_card
from robostral.export import encoder, encoder_cache
from robostral.language.minilm import PACKAGE_DIR

SHIPPED = Path(__file__).resolve().parents[1] / "policies" / "robostral-s-panda"
NAMES = (ENCODER_FILE, TOKENIZER_FILE)


def test_a_kept_encoder_is_the_bytes_the_card_names_and_is_not_exported_again(tmp_path, monkeypatch):
    card = read_card(SHIPPED)
    hashes = encoder.export_encoder(tmp_path / "first", card.encoder_pooling)  # exported, or kept by an earlier one
    assert hashes == {name: card.files[name] for name in NAMES}
    monkeypatch.setattr(encoder, "to_onnx", lambda _: pytest.fail("exported again, though kept"))
    assert encoder.export_encoder(tmp_path / "again", card.encoder_pooling) == hashes


def test_a_changed_kept_encoder_is_dropped_not_used(tmp_path):
    key = encoder_cache.cache_key("mean", PACKAGE_DIR, encoder.CODE)
    encoder.export_encoder(tmp_path / "first", "mean")  # kept now, if it was not
    kept = encoder_cache.cache_root() / key
    with open(kept / TOKENIZER_FILE, "ab") as handle:
        handle.write(b" ")
    assert not encoder_cache.fetch(key, tmp_path, NAMES)
    assert not kept.exists() and not (tmp_path / ENCODER_FILE).exists()  # the next export keeps its own


def test_the_key_names_the_pooling_and_the_code():
    keys = {encoder_cache.cache_key(pooling, PACKAGE_DIR, modules)
            for pooling in ("mean", "mean+order") for modules in (encoder.CODE, encoder.CODE[:-1])}
    assert len(keys) == 4
