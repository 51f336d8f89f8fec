"""One set of instruction rules (``sim.language.check_instruction``), applied wherever an instruction comes in.

The rules; how a node reads the serialized std_msgs/String (rclpy alone would cut it at a
NUL byte and replace invalid UTF-8, silently); ``robostral instruct`` refusing before it
publishes; the runtime refusing to embed junk.
"""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from robostral.cli import main as robostral
from robostral.ros.instruct import received_instruction, string_from_cdr
from robostral.ros.messages import MAX_BYTES
from sim.language import CHARSET, MAX_LENGTH, SPLITS, TEMPLATES, check_instruction, paraphrases, phrasings


def every_phrasing() -> list[str]:
    texts = []
    for task in TEMPLATES:
        for split in SPLITS:
            texts += phrasings(task, split, "red", "blue")
        texts += paraphrases(phrasings(task, "train", "red", "blue")[0])
    return texts


def test_every_phrasing_the_policy_knows_is_an_instruction():
    for text in every_phrasing():
        assert check_instruction(text) == text
    assert check_instruction("  pick up the red cube, then stop!  ") == "pick up the red cube, then stop!"


@pytest.mark.parametrize("junk, reason", [
    ("", "the instruction is empty"),
    ("     ", "the instruction is empty"),
    ("a" * (MAX_LENGTH + 1), f"the instruction has {MAX_LENGTH + 1} characters; at most {MAX_LENGTH}"),
    ("x" * 100_000, "the instruction has 100000 characters"),
    ("reach the red target\x00", r"it has '\x00'"),
    ("reach\tthe red target", r"it has '\t'"),
    ("reach the red target\n", r"it has '\n'"),
    ("\x1b[2Jreach", r"it has '\x1b', '['"),
    ("greif den roten W\u00fcrfel", "it has '\u00fc'"),
    ("reach the \ufffd target", "it has '\ufffd'"),
    ("42 1337 ...", "the instruction has no words"),
    (b"reach the red target", "an instruction must be text, got bytes"),
    (None, "an instruction must be text, got NoneType"),
])
def test_junk_is_refused_with_the_reason(junk, reason):
    with pytest.raises(ValueError) as refused:
        check_instruction(junk)
    assert reason in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_an_instruction_is_short_text_in_the_charset_with_words(text):
    try:
        checked = check_instruction(text)
    except ValueError:
        stripped = text.strip(" ")
        assert (len(stripped) > MAX_LENGTH or set(stripped) - set(CHARSET)
                or not any(c.isalpha() for c in stripped))
    else:
        assert checked == text.strip(" ") and 0 < len(checked) <= MAX_LENGTH and set(checked) <= set(CHARSET)


def cdr(payload: bytes, length: int | None = None, little_endian: bool = True) -> bytes:
    """A serialized std_msgs/String carrying ``payload`` then a NUL, its length field ``length`` if given."""
    header, order = (b"\x00\x01\x00\x00", "<") if little_endian else (b"\x00\x00\x00\x00", ">")
    return header + struct.pack(order + "I", len(payload) + 1 if length is None else length) + payload + b"\x00"


def test_a_serialized_string_is_read_exactly_as_sent():
    for text in ("reach the red target", "", "caf\u00e9 \u00fcber"):
        raw = serialize_message(String(data=text))
        assert string_from_cdr(raw) == text
        assert string_from_cdr(cdr(text.encode(), little_endian=False)) == text


@pytest.mark.parametrize("raw, reason", [
    (cdr(b"reach the red target\x00\xff\xfe junk"), "the text has a NUL byte at byte 20"),
    (cdr(b"reach the \xff\xfe target"), "the text is not valid UTF-8 (invalid start byte at byte 10)"),
    (cdr(b"reach", length=1000), "malformed std_msgs/String: 1000 bytes announced, 6 received"),
    (cdr(b"reach")[:-1], "malformed std_msgs/String: 6 bytes announced, 5 received"),
    (b"\x00\x01\x00", "a std_msgs/String of 3 bytes is cut short"),
], ids=["NUL then junk", "invalid UTF-8", "length past the end", "no terminator", "cut short"])
def test_a_malformed_serialized_string_is_refused(raw, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        received_instruction(raw)


def test_the_topic_clears_with_an_empty_string_and_refuses_what_the_rules_refuse():
    assert received_instruction(serialize_message(String(data=""))) == ""
    assert received_instruction(serialize_message(String(data=" reach the red target "))) == "reach the red target"
    with pytest.raises(ValueError, match="the instruction is empty"):
        received_instruction(serialize_message(String(data="   ")))
    with pytest.raises(ValueError, match="at most 160 are allowed"):
        received_instruction(serialize_message(String(data="reach " * 30)))
    with pytest.raises(ValueError, match=f"String of 120009 bytes; at most {MAX_BYTES[String]} are read"):
        received_instruction(serialize_message(String(data="reach " * 20_000)))  # refused by its size, unread


@pytest.mark.parametrize("junk", ["", "reach the red target\x07", "x" * 100_000])
def test_robostral_instruct_refuses_junk_before_publishing(junk, capsys, monkeypatch):
    import rclpy

    monkeypatch.setattr(rclpy, "init", lambda **_: pytest.fail("rclpy started for junk"))
    assert robostral(["instruct", junk, "--timeout", "1"]) == 2
    assert capsys.readouterr().err.startswith("robostral instruct: error: ")


def test_the_runtime_refuses_to_embed_junk(pipeline):
    from robostral.runtime import PolicyRuntime

    runtime = PolicyRuntime(pipeline.bundle, threads=1)
    assert runtime.embed(" reach the red target ").shape == (runtime.language_dim,)
    for junk in ("\x00\x01\x02", "reach the red target " * 10, "\u0412\u043e\u0437\u044c\u043c\u0438"):
        with pytest.raises(ValueError):
            runtime.embed(junk)
        with pytest.raises(ValueError):
            runtime.controller(1).act_chunk(*_observation(runtime), [junk])


def _observation(runtime):
    import numpy as np

    image = np.zeros((1, *runtime.image_shape), dtype=np.uint8)
    return image, np.zeros((1, runtime.state_dim), dtype=np.float32)
