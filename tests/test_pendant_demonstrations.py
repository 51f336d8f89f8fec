"""The Demonstrate screen's logic without a cell (``pendant.demonstrations``): the take's states, what is refused,
the dataset it keeps (one spec per dataset, seeds never reused), and the audit. A scripted recorder stands for the
cell's (tests/test_pendant_demonstrate.py records real takes on the simulated cell)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pendant_helpers import FakeClock, open_pendant, with_users

from robostral.data import DatasetSpec, DatasetWriter, Episode, load_dataset
from robostral.pendant.access.roles import Role
from robostral.pendant.demonstrations import DEMONSTRATION_TASK, Demonstrations
from robostral.pendant.errors import BadRequest, Conflict, NotFound
from robots import load_robot

PANDA = load_robot("panda")
SPEC = DatasetSpec("panda", PANDA.joint_names, 20, 8, wrist=False)


@dataclasses.dataclass
class ScriptedRecorder:
    """Takes of ``frames`` frames of noise; ``problem`` makes the next take one that cannot be kept."""

    spec: DatasetSpec = SPEC
    frames: int = 6
    problem: str = ""
    take: DatasetSpec | None = None
    stopped: bool = False

    def robot(self) -> tuple[str, tuple[str, ...]]:
        return self.spec.robot, tuple(self.spec.joint_names)

    def cell_spec(self) -> DatasetSpec:
        return self.spec

    def start(self, spec: DatasetSpec) -> None:
        assert self.take is None
        self.take, self.stopped = spec, False

    def stop(self) -> None:
        self.stopped = True

    def progress(self) -> dict:
        return {"seconds": (self.frames - 1) / 20, "frames": self.frames, "ended": "", "problem": self.problem}

    def episode(self, instruction: str) -> Episode:
        assert self.stopped
        if self.problem:
            raise Conflict(f"this demonstration cannot be kept: {self.problem}")
        rng = np.random.default_rng(self.frames)
        size, joints = self.take.image_size, len(self.take.joint_names)
        return Episode.encode(sim_task="recording:x", seed=0, robot=self.take.robot, instruction=instruction,
                              success=True,
                              images={"observation.images.front": rng.integers(0, 256, (self.frames, size, size, 3),
                                                                               np.uint8)},
                              state=rng.normal(size=(self.frames, 2 * joints - 1)),
                              action=rng.normal(size=(self.frames, joints)))

    def drop(self) -> None:
        self.take = None


@pytest.fixture
def setup(tmp_path):
    clock = FakeClock()
    pendant = open_pendant(tmp_path / "pendant.db", clock)
    users = with_users(pendant)
    recorder = ScriptedRecorder()
    yield Demonstrations(tmp_path / "demos", recorder, pendant.audit, clock), recorder, users[Role.ENGINEER], pendant
    pendant.close()


def audited(pendant) -> list[str]:
    return [e.action.value for e in pendant.audit.query() if e.action.value.startswith(("demonstration", "gripper"))]


def test_record_stop_keep_then_discard_and_what_each_state_refuses(setup):
    demonstrations, recorder, eve, pendant = setup
    assert demonstrations.status() == {"state": "idle", "folder": str(demonstrations.folder)}
    for refused in (demonstrations.stop, demonstrations.keep, demonstrations.discard):
        with pytest.raises(Conflict, match="no demonstration"):
            refused(eve)
    with pytest.raises(BadRequest, match="may use only"):
        demonstrations.record(eve, "reach the ~ target")
    status = demonstrations.record(eve, "  reach the green target ")
    assert status["state"] == "recording" and status["instruction"] == "reach the green target"
    with pytest.raises(Conflict, match="is being recorded"):
        demonstrations.record(eve, "push the cube")
    with pytest.raises(Conflict, match="stop it first"):
        demonstrations.keep(eve)
    assert demonstrations.stop(eve)["state"] == "stopped"
    with pytest.raises(Conflict, match="waits to be kept or discarded"):
        demonstrations.record(eve, "push the cube")
    kept = demonstrations.keep(eve)
    assert (kept["index"], kept["seed"], kept["frames"], kept["recorded_by"]) == (0, 0, 6, "eve")
    assert demonstrations.status()["state"] == "idle" and recorder.take is None
    demonstrations.record(eve, "push the cube")
    demonstrations.discard(eve)  # while recording
    assert demonstrations.status()["state"] == "idle" and recorder.take is None
    data = load_dataset(demonstrations.folder)
    assert [(e["sim_task"], e["seed"], e["tasks"]) for e in data.episodes] == \
        [(DEMONSTRATION_TASK, 0, ["reach the green target"])]
    assert audited(pendant) == ["demonstration_started", "demonstration_stopped", "demonstration_kept",
                                "demonstration_started", "demonstration_stopped", "demonstration_discarded"]


def test_a_take_that_cannot_be_kept_stays_until_discarded(setup):
    demonstrations, recorder, eve, _ = setup
    recorder.problem = "a camera image is not square"
    demonstrations.record(eve, "reach the green target")
    assert demonstrations.stop(eve)["problem"] == "a camera image is not square"
    with pytest.raises(Conflict, match="not square"):
        demonstrations.keep(eve)
    assert demonstrations.status()["state"] == "stopped" and not demonstrations.folder.exists()
    demonstrations.discard(eve)
    assert demonstrations.status()["state"] == "idle"


def test_seeds_are_never_reused_and_delete_checks_the_seed(setup):
    demonstrations, recorder, eve, pendant = setup
    for instruction in ("reach the green target", "push the cube", "stack the cubes"):
        demonstrations.record(eve, instruction)
        demonstrations.stop(eve)
        demonstrations.keep(eve)
    with pytest.raises(Conflict, match="reload the list"):
        demonstrations.delete(eve, 2, 1)
    with pytest.raises(NotFound):
        demonstrations.delete(eve, 3, 3)
    demonstrations.delete(eve, 2, 2)  # the last: its seed is not taken again
    demonstrations.delete(eve, 0, 0)
    demonstrations.record(eve, "reach the green target")
    demonstrations.stop(eve)
    assert demonstrations.keep(eve)["seed"] == 3
    listed = demonstrations.episodes()
    assert [(e["index"], e["seed"], e["instruction"]) for e in listed["episodes"]] == \
        [(0, 1, "push the cube"), (1, 3, "reach the green target")]
    assert listed["tasks"] == ["push the cube", "reach the green target"]
    assert demonstrations.frame(1, -1, "front") == list(load_dataset(demonstrations.folder).image_frames(
        "observation.images.front", 1))[-1][0]
    with pytest.raises(NotFound):
        demonstrations.frame(1, 6, "front")
    with pytest.raises(NotFound):
        demonstrations.frame(1, 0, "wrist")
    deleted = [e.detail for e in pendant.audit.query(action="demonstration_deleted")]
    assert [(d["episode"], d["seed"], d["instruction"]) for d in deleted] == \
        [(2, 2, "stack the cubes"), (0, 0, "reach the green target")]


def test_a_dataset_of_another_arm_or_a_folder_that_is_no_dataset_is_refused_before_recording(setup):
    demonstrations, recorder, eve, _ = setup
    demonstrations.folder.mkdir()
    (demonstrations.folder / "notes.txt").write_text("not a dataset")
    with pytest.raises(Conflict, match="not a dataset"):
        demonstrations.record(eve, "reach the green target")
    (demonstrations.folder / "notes.txt").unlink()
    other = load_robot("ur5")
    DatasetWriter(demonstrations.folder, DatasetSpec(other.name, other.joint_names, 20, 8, False)).close()
    with pytest.raises(Conflict, match="this cell is a panda"):
        demonstrations.record(eve, "reach the green target")
    assert demonstrations.status()["state"] == "idle" and recorder.take is None


def test_an_existing_dataset_gives_the_take_its_rate_and_image_size(setup):
    demonstrations, recorder, eve, _ = setup
    DatasetWriter(demonstrations.folder, dataclasses.replace(SPEC, fps=10, image_size=16)).close()
    assert demonstrations.record(eve, "reach the green target")["fps"] == 10
    assert recorder.take.image_size == 16
    demonstrations.stop(eve)
    demonstrations.keep(eve)
    assert load_dataset(demonstrations.folder).fps == 10
