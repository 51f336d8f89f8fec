"""Instructions: held-out phrasings never seen in training, and every instruction names the goal's colours."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import ROBOT_NAMES
from hypothesis import given
from hypothesis import strategies as st

from sim.language import (
    CHARSET,
    COLORS,
    MAX_LENGTH,
    PARAPHRASES,
    SPLITS,
    TEMPLATES,
    paraphrases,
    phrasings,
    sample_instruction,
    swap_named,
)
from sim.tasks import TASKS

PAIRS = list(itertools.permutations(COLORS, 2))


def _all(task: str, split: str) -> set[str]:
    return {p for a, b in PAIRS for p in phrasings(task, split, a, b)}


def test_every_task_has_both_splits():
    assert set(TEMPLATES) == set(TASKS)
    for task in TASKS:
        assert set(TEMPLATES[task]) == set(SPLITS)


@pytest.mark.parametrize("task", list(TASKS))
def test_heldout_phrasings_never_occur_in_training(task):
    train_anywhere = set().union(*(_all(t, "train") for t in TASKS))
    for a, b in PAIRS:
        heldout = phrasings(task, "heldout", a, b)
        train = phrasings(task, "train", a, b)
        assert heldout and train
        assert not set(heldout) & set(train), (a, b)
        assert len(set(heldout)) == len(heldout) and len(set(train)) == len(train)
    assert not _all(task, "heldout") & train_anywhere
    # Not even a template body: with the colours masked, no heldout wording matches a train wording.
    masked = {p.replace("red", "X").replace("blue", "Y") for p in phrasings(task, "heldout", "red", "blue")}
    masked_train = {p.replace("red", "X").replace("blue", "Y") for p in phrasings(task, "train", "red", "blue")}
    assert not masked & masked_train


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("split", SPLITS)
def test_phrasings_name_both_colours_within_the_text_charset(task, split):
    for a, b in PAIRS:
        for phrase in phrasings(task, split, a, b):
            words = phrase.split()
            assert a in words, phrase
            if task != "reach":
                assert b in words and words.index(a) < words.index(b), phrase
            assert set(phrase) <= set(CHARSET) and 0 < len(phrase) <= MAX_LENGTH
            assert "{" not in phrase and "}" not in phrase


@given(seed=st.integers(0, 2**32 - 1), task=st.sampled_from(list(TASKS)), split=st.sampled_from(SPLITS))
def test_sampling_is_seeded_and_stays_in_its_split(seed, task, split):
    first = sample_instruction(np.random.default_rng(seed), task, split, "green", "orange")
    assert first == sample_instruction(np.random.default_rng(seed), task, split, "green", "orange")
    assert first in phrasings(task, split, "green", "orange")


def test_sampling_reaches_every_phrasing():
    rng = np.random.default_rng(0)
    options = set(phrasings("pick_place", "train", "red", "blue"))
    drawn = {sample_instruction(rng, "pick_place", "train", "red", "blue") for _ in range(40 * len(options))}
    assert drawn == options


def test_unknown_split_is_an_error():
    with pytest.raises(ValueError, match="unknown instruction split 'val'; expected one of \\('train', 'heldout'\\)"):
        phrasings("reach", "val", "red")


def _colour(name: str) -> str:
    return name.rsplit("_", 1)[1]


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("split", SPLITS)
def test_env_instruction_names_the_goal_objects(make_env, task, split):
    robot = ROBOT_NAMES[len(task) % 2]  # both arms, across the tasks
    env = make_env(task, robot, instructions=split)
    space = env.observation_space["instruction"]
    other = "train" if split == "heldout" else "heldout"
    seen = set()
    for seed in range(6):
        observation, info = env.reset(seed=seed)
        instruction, goal = observation["instruction"], env.unwrapped.task.goal
        a, b = _colour(goal.a), _colour(goal.b) if goal.b else ""
        assert instruction in phrasings(task, split, a, b)
        assert instruction not in _all(task, other)
        assert space.contains(instruction) and instruction == info["instruction"]
        # The named object really has that colour, and no other object of its kind shares it.
        for name in filter(None, (goal.a, goal.b)):
            rgba = env.unwrapped.sim.client.getVisualShapeData(env.unwrapped.sim.body(name))[0][7]
            assert np.abs(np.array(rgba[:3]) - COLORS[_colour(name)]).max() <= 0.08 + 1e-6, name
        kind = goal.a.rsplit("_", 1)[0]
        same_kind = [name for name in env.unwrapped.task.objects if name.startswith(kind + "_")]
        assert len(same_kind) >= 2 and len({_colour(name) for name in same_kind}) == len(same_kind)
        seen.add(instruction)
    assert len(seen) > 1  # instructions vary with the seed


@pytest.mark.parametrize("task", list(TASKS))
def test_an_instruction_from_outside_sets_the_goal_it_names(task):
    """What a ROS 2 instruction asks for becomes the goal success is judged by; a wrong one is refused."""
    from sim.env import RobotTaskEnv

    env = RobotTaskEnv(task, "panda", image_size=0)
    try:
        env.reset(seed=2)
        goal = env.task.goal
        colours = [name.split("_")[-1] for name in (goal.a, goal.b) if name]
        for split in SPLITS:  # every phrasing, held-out ones too, names the same goal
            for text in phrasings(task, split, *colours)[:3]:
                assert env.goal_for(text) == goal
        absent = next(c for c in COLORS if all(not o.endswith(c) for o in env.task.objects))
        kind = goal.a.split("_")[0]
        with pytest.raises(ValueError, match=f"no {absent} {kind}"):
            env.goal_for(phrasings(task, "train", absent, *colours[1:])[0])
        with pytest.raises(ValueError, match="names 0 colours"):
            env.goal_for("do the thing")
    finally:
        env.close()


def _words(texts) -> set[str]:
    return {w for text in texts for w in text.split()}


@pytest.mark.parametrize("task", list(TASKS))
def test_paraphrases_of_a_train_instruction_say_the_same_in_words_heldout_phrasings_do_not_use(task):
    assert set(PARAPHRASES) == set(TASKS)
    heldout_only = _words(_all(task, "heldout")) - set().union(*(_words(_all(t, "train")) for t in TASKS))
    assert heldout_only  # the held-out phrasings do bring words of their own
    for a, b in PAIRS:
        b = "" if task == "reach" else b
        expected = None
        for instruction in phrasings(task, "train", a, b):
            found = paraphrases(instruction)
            assert found and (expected is None or found == expected)  # every train wording of one command
            expected = found
            assert not set(found) & (set(phrasings(task, "train", a, b)) | set(phrasings(task, "heldout", a, b)))
            assert not _words(found) & heldout_only, _words(found) & heldout_only
            for phrase in found:
                words = phrase.split()
                assert words.count(a) >= 1 and (not b or words.index(a) < words.index(b)), phrase
                assert set(phrase) <= set(CHARSET) and 0 < len(phrase) <= MAX_LENGTH


@pytest.mark.parametrize("text", ["hover above the red dot", "wave at the camera", "", "red blue"])
def test_only_train_instructions_have_paraphrases(text):
    assert paraphrases(text) == []


@pytest.mark.parametrize("task", ["push", "pick_place", "stack"])
def test_swapping_the_named_objects_exchanges_their_roles_and_nothing_else(task):
    for split in SPLITS:
        for a, b in PAIRS:
            for wording, swapped in zip(phrasings(task, split, a, b), phrasings(task, split, b, a)):
                assert swap_named(wording) == swapped


def test_an_instruction_naming_fewer_than_two_objects_has_no_swap():
    assert swap_named("reach the red target") == ""
    assert swap_named("put the red cube on the red cube") == ""
    assert swap_named("Stack the Red cube on the blue one.") == "Stack the blue cube on the red one."
