"""Instructions: colour names, templates with synonyms, and a held-out set of phrasings.

Training data only ever sees the ``train`` templates; evaluation of language
generalization uses ``heldout``, whose wordings never occur in training.
``PARAPHRASES`` are more wordings for training only (``robostral train`` can swap
an instruction for one of them); they share no word with ``heldout`` that
``train`` does not also use, so held-out phrasings stay unseen.
"""

from __future__ import annotations

import itertools
import string

import numpy as np

# Named colours and their nominal RGB; domain randomization jitters within each name.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.10),
    "green": (0.12, 0.65, 0.15),
    "blue": (0.10, 0.25, 0.90),
    "yellow": (0.95, 0.85, 0.10),
    "purple": (0.55, 0.15, 0.75),
    "orange": (1.00, 0.50, 0.05),
}

# The language an instruction may use, everywhere one is received (``check_instruction``): the
# observation space's Text, what the policy was trained on. Anything else is junk to refuse.
CHARSET = string.ascii_letters + string.digits + " ,.'-?!"
MAX_LENGTH = 160  # characters

_SYNONYMS = {
    "cube": ("cube", "block"),
    "pick": ("pick up", "grab", "take"),
    "put": ("put", "place", "drop"),
    "reach": ("move to", "reach", "go to"),
    "push": ("push", "slide"),
    "stack": ("stack", "put", "place"),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "reach": {
        "train": ("{reach} the {a} target", "{reach} the {a} marker", "move the gripper over the {a} target"),
        "heldout": ("hover above the {a} dot", "bring your hand to the {a} spot"),
    },
    "push": {
        "train": ("{push} the {a} {cube} into the {b} zone", "{push} the {a} {cube} to the {b} area"),
        "heldout": ("nudge the {a} {cube} onto the {b} patch", "shove the {a} {cube} over to the {b} region"),
    },
    "pick_place": {
        "train": ("{pick} the {a} {cube} and {put} it in the {b} bin", "{put} the {a} {cube} in the {b} bin"),
        "heldout": ("move the {a} {cube} into the {b} container", "the {a} {cube} belongs in the {b} tray"),
    },
    "stack": {
        "train": ("{stack} the {a} {cube} on the {b} {cube}", "{stack} the {a} {cube} on top of the {b} {cube}"),
        "heldout": ("set the {a} {cube} atop the {b} one", "build a tower with the {a} {cube} over the {b} {cube}"),
    },
}

SPLITS = ("train", "heldout")

PARAPHRASES: dict[str, tuple[str, ...]] = {
    "reach": ("put the gripper on the {a} target", "{reach} the {a} mark", "the gripper should go to the {a} marker",
              "find the {a} target and {reach} it", "position the gripper at the {a} target",
              "head for the {a} marker", "send the arm to the {a} target", "{reach} the {a} location",
              "point the gripper at the {a} marker", "the {a} target is where the gripper should go"),
    "push": ("{push} the {a} {cube} until it is in the {b} zone",
             "get the {a} {cube} to the {b} area without lifting it",
             "the {a} {cube} needs to be pushed to the {b} zone", "{push} the {a} {cube} across to the {b} area",
             "{push} the {a} {cube} along the table into the {b} zone",
             "move the {a} {cube} to the {b} area by pushing it", "the {a} {cube} should end up in the {b} zone",
             "{push} the {a} {cube} so it sits in the {b} area", "drive the {a} {cube} into the {b} zone"),
    "pick_place": ("lift the {a} {cube} and drop it in the {b} bin", "the {a} {cube} goes in the {b} bin",
                   "grasp the {a} {cube} and release it in the {b} bin", "{put} the {a} {cube} inside the {b} bin",
                   "carry the {a} {cube} to the {b} bin", "take the {a} {cube} and leave it in the {b} bin",
                   "load the {a} {cube} into the {b} bin", "transfer the {a} {cube} to the {b} bin"),
    "stack": ("{stack} the {a} {cube} upon the {b} {cube}", "the {a} {cube} goes on the {b} {cube}",
              "pile the {a} {cube} on the {b} {cube}", "lift the {a} {cube} and {put} it on the {b} {cube}",
              "rest the {a} {cube} on the {b} {cube}", "{put} the {a} {cube} down on the {b} {cube}",
              "the {a} {cube} should sit on top of the {b} {cube}", "balance the {a} {cube} on the {b} {cube}"),
}


def phrasings(task: str, split: str, a: str, b: str = "") -> list[str]:
    """Every wording of one instruction in ``split``, synonyms expanded."""
    if split not in SPLITS:
        raise ValueError(f"unknown instruction split {split!r}; expected one of {SPLITS}")
    return _expand(TEMPLATES[task][split], a, b)


def paraphrases(instruction: str) -> list[str]:
    """The ``PARAPHRASES`` wordings of a ``train`` instruction; [] for any other text (a recording's, say)."""
    colours = colours_in(instruction) + ["", ""]
    for task in TEMPLATES:
        a, b = colours[0], colours[1] if task != "reach" else ""
        if instruction in phrasings(task, "train", a, b):
            return _expand(PARAPHRASES[task], a, b)
    return []


def _expand(templates: tuple[str, ...], a: str, b: str) -> list[str]:
    result = []
    for template in templates:
        slots = [k for k in _SYNONYMS if "{" + k + "}" in template]
        for choice in itertools.product(*(_SYNONYMS[k] for k in slots)):
            result.append(template.format(a=a, b=b, **dict(zip(slots, choice))))
    return result


def sample_instruction(rng: np.random.Generator, task: str, split: str, a: str, b: str = "") -> str:
    """One wording, drawn uniformly from ``split``."""
    options = phrasings(task, split, a, b)
    return options[int(rng.integers(len(options)))]


def swap_named(text: str) -> str:
    """``text`` with its first two colour names exchanged (the object to move and its goal); "" if it has fewer."""
    named = colours_in(text)
    if len(named) < 2 or named[0] == named[1]:
        return ""
    a, b = named[:2]
    words = text.split(" ")
    for i, word in enumerate(words):
        core = word.strip(string.punctuation).lower()
        if core in (a, b):
            words[i] = word.lower().replace(core, b if core == a else a)
    return " ".join(words)


def colours_in(text: str) -> list[str]:
    """The colour names an instruction mentions, in the order it mentions them."""
    words = [w.strip(string.punctuation) for w in text.lower().split()]
    return [w for w in words if w in COLORS]


def check_instruction(text: object) -> str:
    """``text`` with its outer spaces stripped, if it is an instruction; ValueError saying why not.

    The one place the rules live (the policy node, the runtime, the pendant and ``robostral instruct``
    all apply them): a str of 1 to ``MAX_LENGTH`` characters of ``CHARSET`` (letters, digits, space and
    a little punctuation: no control bytes, no other script) with at least one letter.
    """
    if not isinstance(text, str):
        raise ValueError(f"an instruction must be text, got {type(text).__name__}")
    stripped = text.strip(" ")
    if len(stripped) > MAX_LENGTH:
        raise ValueError(f"the instruction has {len(stripped)} characters; at most {MAX_LENGTH} are allowed")
    bad = sorted(set(stripped) - set(CHARSET))
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        punctuation = "".join(c for c in CHARSET if not c.isalnum() and c != " ")
        raise ValueError(f"an instruction may use only letters, digits, space and {punctuation} ; it has {shown}")
    if not any(c.isalpha() for c in stripped):
        raise ValueError(f"the instruction has no words: {stripped!r}" if stripped else "the instruction is empty")
    return stripped
