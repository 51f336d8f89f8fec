"""Every command README.md and docs/*.md show runs as written, in a quick mode, as a newcomer would run it.

Extraction (tests/doc_commands.py): the fenced shell blocks (``bash``/``sh``/``shell``/``console``, or
unmarked ones that start with a command or have ``$`` prompts) and ``python`` blocks; one test per block,
id ``file:line``. A block is a recipe: its commands run in order, sharing its variables (``R=...``,
``export``). A block whose commands are the first ones of another block runs as part of that one.

Where: a fresh working directory under tmp_path holding symlinks to the repository's top-level files and
folders, except ``runs/`` and ``datasets/`` (made there by the commands), ``policies/`` (copies of the
cards, the other files linked: eval and promote write there) and ``sweeps/`` (tiny copies, below); the
venv's bin first on PATH; loopback-only ROS 2 on a domain of this test's own. ``console`` evidence
(read-only) runs in the repository root.

Quick mode, argument rewrites (nothing else changes):
  - ``--episodes N`` -> 1; ``--chain-links N`` -> 1; ``eval`` gets ``--chains 0 --heldout-episodes 0
    --videos 0`` where these are not given;
  - ``train``: ``--steps N`` -> 2 (4 with ``--resume``, so it continues), added where absent;
  - ``sweeps/*.yaml`` are copies with one task, one seed, one episode, the first two values of each grid
    axis and one sample of each range axis (the same shape: policies x axes x seeds);
  - ``up`` gets ``--param pendant.port=0`` (no clash on 8080), and ``--record`` when its block later
    reads ``runs/recordings/<run>``; it runs in the background until "graph running", the commands
    after it that talk to it (``instruct``) run meanwhile, then it is stopped with SIGINT (exit 0);
  - an absolute ``/etc/...`` path lands under the working directory instead;
  - ``make TARGET``: ``make -n TARGET`` must succeed; ``demo``'s recipe line then runs with
    ``--tasks reach``; ``test``'s is the test suite, this test included, so it is not run again;
  - placeholders: ``datasets/MINE`` (your demonstrations) is a 1-episode wrist dataset collected first,
    ``runs/eval/OLD`` a copy of the block's last report, ``<run>`` the newest recording, and a
    ``runs/train/...`` run of a skipped stage the run the block trained last.
Exit status 0, or what the docs give: ``instruct`` 0 or 1 (done, not done), ``policies promote`` 0 or 1
(refused, with the reason, unless the card's gate passes). Console commands print the output shown.
The training guide's block is marked slow (SLOW). SKIPPED commands (real arm, multi-host Ray cluster,
GPU, the shipped run's history) are each parsed by the ``robostral`` parser (and a ``train`` config
loaded); each entry must still match a documented command.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from doc_commands import ROOT, VENV_BIN, Block, Command, all_blocks
from ros_helpers import GRAPH_MARKER, marked_pids, next_domain, ros_env

TIMEOUT = 300  # s for any one command
UP_TIMEOUT = 120  # s until `robostral up` says its graph is running
GRAPH_CLIENTS = ("instruct",)  # robostral subcommands that talk to a running graph
PRIVATE = {"runs", "datasets", "policies", "sweeps", ".git", ".pytest_cache", ".hypothesis"}
EXIT = {("instruct",): {0, 1}, ("policies", "promote"): {0, 1}}  # the documented exit statuses

HISTORY = ("history of the shipped run: needs its full datasets and the earlier stage's checkpoint or bundle "
           "(init_from) at its exact step, made by the commands in the config's header")
SKIPS: dict[tuple[str, str], str] = {
    ("README.md", "make test"): "the whole suite, this test included (checked with `make -n test`)",
    ("docs/datasets.md", "up --hardware --record"): "needs a real arm and its ros2_control controllers",
    ("docs/datasets.md", "dataset from-bag runs/recordings/<run>"): "reads the recording of `up --hardware "
                                                                    "--record`; the same command runs after "
                                                                    "`up --sim --record` in docs/deployment.md",
    ("docs/training.md", "finetune --demonstrations"): "fine-tunes and evaluates the shipped bundle for an hour; "
                                                        "tests/test_finetune.py runs every step on a tiny one",
    ("docs/datasets.md", "datasets/OTHER"): "a second dataset of MINE's kind; the command before it merges MINE",
    ("docs/datasets.md", "--episodes 0,3,5"): "quick mode makes it --episodes 1, past the one episode of the "
                                              "stand-in datasets/MINE; the command before it writes every episode",
    ("docs/security.md", "robostral up --hardware"): "needs a real arm and its ros2_control controllers",
    ("docs/pendant.md", "robostral up --hardware"): "needs a real arm and its ros2_control controllers",
    ("docs/deployment.md", "policies deploy"): "switches the policy node of a running graph; "
                                              "tests/test_ros_deploy.py deploys to a running policy node",
    ("docs/deployment.md", "fake-cell --robot"): "the cell runs until Ctrl-C beside up --hardware; "
                                                 "tests/test_ros_e2e_fake_cell.py rehearses this bring-up",
    ("docs/sweeps.md", "ray start --head"): "starts a Ray head for a cluster of several hosts",
    ("docs/sweeps.md", "ray start --address=HEAD_IP"): "joins a Ray head on another host",
    ("docs/sweeps.md", "--address HEAD_IP:6379   #"): "needs that Ray cluster",
    ("docs/sweeps.md", "--gpus-per-task"): "needs a Ray cluster with GPU nodes",
    ("docs/recipes.md", "recipe run recipes/robostral-s-panda.yaml"): "every stage of the shipped policy's recipe, "
                                                                    "hours of CPU (tests/test_recipe.py runs a "
                                                                    "two-stage one)",
    ("docs/recipes.md", "--dagger runs/recipes/robostral-s-panda/bundle-0"): "needs the recipe's first bundle; "
                                                                            "README.md's block runs a DAgger "
                                                                            "round on the bundle it trains",
    ("docs/recipes.md", "--policy runs/recipes/robostral-s-panda/bundle-"): "needs the recipe's bundles",
    ("docs/recipes.md", "compare runs/eval/round-0"): "needs the evaluations of the recipe's bundles",
    **{("docs/training.md", f"--config configs/{name}.yaml{rest}"): HISTORY for name, rest in (
        ("robostral-s-panda", "\n"), ("robostral-s-panda", " --steps 36000"), ("robostral-s-panda-fine", ""),
        ("robostral-s-panda-wrist", "\n"), ("robostral-s-panda-wrist-chains", ""), ("robostral-s-panda-order", "\n"),
        ("robostral-s-panda-order-paraphrases", ""), ("robostral-s-panda-roles", ""))},
}


def skip_reason(command: Command) -> str | None:
    text = command.text + "\n"
    return next((why for (file, needle), why in SKIPS.items() if file == command.file and needle in text), None)


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m[1], m[0]), text)


def words(command: Command, env: dict[str, str]) -> list[str]:
    return shlex.split(expand(command.text, env), comments=True)


def robostral_args(argv: list[str]) -> list[str] | None:
    """The arguments after the program when ``argv`` runs robostral, else None."""
    return argv[1:] if argv and Path(argv[0]).name == "robostral" else None


# ---------------------------------------------------------------------------------------------------------------
# Blocks, grouped: a block whose commands are the first ones of another runs as part of it.
# ---------------------------------------------------------------------------------------------------------------

def _signature(block: Block) -> list[list[str]]:
    env = {"R": ".venv/bin/robostral"}
    return [[Path(w[0]).name, *w[1:]] for c in block.commands if (w := words(c, env))
            if not re.match(r"^[A-Za-z_]\w*=", w[0]) and w[0] != "export"]


def groups() -> list[list[Block]]:
    blocks = all_blocks()
    covered = {}
    for small in blocks:
        for big in blocks:
            s, b = _signature(small), _signature(big)
            if small is not big and small.lang == big.lang == "shell" and s and len(s) < len(b) and b[:len(s)] == s:
                covered[small.where] = big
    return [[big, *[b for b in blocks if covered.get(b.where) is big]] for big in blocks if big.where not in covered]


def runnable(block: Block) -> bool:
    """Whether a command of the block runs here: not skipped, not just setting a variable."""
    if block.lang == "python":
        return True
    env = {"R": ".venv/bin/robostral"}
    return any((w := words(c, env)) and w[0] != "export" and not re.match(r"^[A-Za-z_]\w*=", w[0])
               and not skip_reason(c) for c in block.commands)


GROUPS = groups()
RUN = [g for g in GROUPS if runnable(g[0])]  # a block of skipped commands only: see the skip test
# Blocks over the file's budget (~5 min on 2 cores), run by `make test-slow`: (file, a command's text).
SLOW = {("docs/training.md", "--config configs/robostral-s-panda-fresh.yaml"):
        "fine-tune, export (~80 s alone), two evals, compare, sign, verify, promote: ~6 min"}


def case(group: list[Block]):
    """One test case: its id is every block's ``file:line``; slow if a command of it is in SLOW."""
    slow = any(c.file == file and needle in c.text for b in group for c in b.commands for file, needle in SLOW)
    return pytest.param(group, id="+".join(b.where for b in group), marks=[pytest.mark.slow] if slow else [])


# ---------------------------------------------------------------------------------------------------------------
# The working directory
# ---------------------------------------------------------------------------------------------------------------

def tiny_sweep(source: Path, target: Path) -> None:
    spec = yaml.safe_load(source.read_text())
    spec.update(tasks=spec.get("tasks", ["reach"])[:1], seeds=spec.get("seeds", [0])[:1], episodes=1, batch_size=1)
    spec["axes"] = {name: values[:2] if isinstance(values, list) else values
                    for name, values in (spec.get("axes") or {}).items()}
    if "samples" in spec:
        spec["samples"] = 1
    target.write_text(yaml.safe_dump(spec, sort_keys=False))


def make_house(root: Path) -> Path:
    house = root / "house"
    house.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in PRIVATE:
            (house / entry.name).symlink_to(entry)
    for bundle in (ROOT / "policies").iterdir():
        if bundle.is_dir():
            (house / "policies" / bundle.name).mkdir(parents=True)
            for file in bundle.iterdir():
                if file.name in ("card.yaml", "card.sig", "README.md"):
                    shutil.copy2(file, house / "policies" / bundle.name / file.name)
                else:
                    (house / "policies" / bundle.name / file.name).symlink_to(file)
    (house / "sweeps").mkdir()
    for sweep in (ROOT / "sweeps").glob("*.yaml"):
        tiny_sweep(sweep, house / "sweeps" / sweep.name)
    return house


# ---------------------------------------------------------------------------------------------------------------
# Running a block
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Recipe:
    house: Path
    log: Path
    env: dict[str, str]
    later: list[list[str]] = field(default_factory=list)  # the block's commands still to come
    graph: subprocess.Popen | None = None
    trained: list[str] = field(default_factory=list)  # --out of each `train` run, in order
    ran: list[str] = field(default_factory=list)

    def quick(self, args: list[str]) -> list[str]:
        """The quick-mode arguments of one robostral command (module docstring)."""
        out = []
        for i, word in enumerate(args):
            previous = args[i - 1] if i else ""
            out.append("1" if previous in ("--episodes", "--chain-links") else word)
        sub = out[0]
        if sub == "train":
            steps = "4" if "--resume" in out else "2"
            if "--steps" in out:
                out[out.index("--steps") + 1] = steps
            else:
                out += ["--steps", steps]
        if sub == "eval":  # chains of 5, held-out phrasings and videos only where asked for
            for option in ("--chains", "--heldout-episodes", "--videos"):
                out += [] if option in out else [option, "0"]
        if sub == "up":
            out += ["--param", "pendant.port=0"]
            if "--record" not in out and any("runs/recordings/<run>" in " ".join(w) for w in self.later):
                out.append("--record")
        return out

    def stand_ins(self, args: list[str]) -> list[str]:
        """Placeholders and the outputs of skipped stages, made or pointed at (module docstring)."""
        result = []
        for word in args:
            if word == "datasets/MINE" and not (self.house / word).exists():
                self.check([str(VENV_BIN / "robostral"), "collect", "--out", word, "--tasks", "reach", "--episodes",
                            "1", "--wrist"], "stand-in for datasets/MINE")
            elif word == "runs/eval/OLD" and not (self.house / word).exists():
                reports = sorted((self.house / "runs/eval").iterdir(), key=lambda p: p.stat().st_mtime)
                shutil.copytree(reports[-1], self.house / word)
            elif "<run>" in word:
                folder = self.house / word.split("<run>")[0]
                runs = sorted((p for p in folder.iterdir() if (p / "metadata.yaml").is_file()), key=os.path.getmtime)
                assert runs, (f"no recording folder under {folder.name}/ to stand in for {word}: "
                              f"it holds {sorted(p.name for p in folder.iterdir())}")
                word = word.replace("<run>", runs[-1].name)
            elif word.startswith("runs/train/") and not (self.house / word).exists() and self.trained:
                (self.house / word).parent.mkdir(parents=True, exist_ok=True)
                (self.house / word).symlink_to(self.house / self.trained[-1])
            result.append(word)
        return result

    def check(self, argv: list[str], where: str, expected: set[int] = frozenset({0}), shell: bool = False,
              cwd: Path | None = None) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = subprocess.run(argv, cwd=cwd or self.house, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT, shell=shell, executable="/bin/bash" if shell else None)
        text = argv if shell else shlex.join(argv)
        with self.log.open("a") as log:
            log.write(f"$ {text}  [{where}: exit {done.returncode}, {time.monotonic() - started:.0f} s]\n"
                      f"{done.stdout}{done.stderr}\n")
        assert done.returncode in expected, (
            f"{where}: `{text}` exited {done.returncode} (expected {sorted(expected)})\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
        self.ran.append(where)
        return done

    def start_graph(self, argv: list[str], where: str) -> None:
        out = (self.house / "up.log").open("w")
        self.graph = subprocess.Popen(argv, cwd=self.house, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        deadline = time.monotonic() + UP_TIMEOUT
        while "graph running" not in (self.house / "up.log").read_text(errors="replace"):
            assert self.graph.poll() is None, f"{where}: `robostral up` exited {self.graph.poll()}:\n{self.up_log()}"
            assert time.monotonic() < deadline, f"{where}: no 'graph running' within {UP_TIMEOUT} s:\n{self.up_log()}"
            time.sleep(0.2)
        self.ran.append(where)

    def up_log(self) -> str:
        return (self.house / "up.log").read_text(errors="replace")[-4000:]

    def stop_graph(self) -> None:
        if self.graph is None:
            return
        graph, self.graph = self.graph, None
        with contextlib.suppress(ProcessLookupError):
            graph.send_signal(signal.SIGINT)
        try:
            graph.wait(timeout=30)
        finally:
            if graph.poll() is None:
                os.killpg(graph.pid, signal.SIGKILL)
                graph.wait()
            deadline = time.monotonic() + 5
            while (left := marked_pids(self.env[GRAPH_MARKER])) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        assert graph.returncode == 0, f"`robostral up` stopped with exit {graph.returncode}:\n{self.up_log()}"
        assert not left, f"`robostral up` left processes behind: {left}"

    def run(self, command: Command, rest: list[Command]) -> None:
        if command.shown:  # console evidence: read-only, in the repository root, prints what is shown
            done = self.check(command.text, command.where, expected={0, 1}, shell=True, cwd=ROOT)
            printed = {line.strip() for line in (done.stdout + done.stderr).splitlines()}
            missing = [line for line in command.shown if line not in printed]
            assert not missing, f"{command.where}: `{command.text}` no longer prints {missing}:\n{done.stdout}"
            return
        argv = [re.sub(r"(^|=)/etc/", rf"\g<1>{self.house}/etc/", w) for w in words(command, self.env)]
        if not argv:
            return
        if argv[0] == "export" or re.match(r"^[A-Za-z_]\w*=", argv[0]):
            for assignment in argv[1:] if argv[0] == "export" else argv:
                name, _, value = assignment.partition("=")
                if name != "ROS_DOMAIN_ID":  # this test's own domain stays
                    self.env[name] = value
            return
        if skip_reason(command):
            if argv[0] == "make":  # its recipe at least resolves
                self.check(["make", "--no-print-directory", "-n", *argv[1:]], command.where)
            return
        args = robostral_args(argv)
        if args is not None and args[0] not in GRAPH_CLIENTS:
            self.stop_graph()
        if argv[0] == "make":
            self.make(argv[1:], command.where)
        elif args is None:
            self.check(argv, command.where)
        else:
            self.later = [words(c, self.env) for c in rest]
            args = self.stand_ins(self.quick(args))
            if args[0] == "up":
                self.start_graph([argv[0], *args], command.where)
                return
            expected = next((codes for key, codes in EXIT.items() if tuple(args[:len(key)]) == key), {0})
            done = self.check([argv[0], *args], command.where, expected)
            self.after(args, done, command)

    def after(self, args: list[str], done: subprocess.CompletedProcess, command: Command) -> None:
        """What the docs promise beyond the exit status."""
        if args[0] == "train":
            self.trained.append(args[args.index("--out") + 1] if "--out" in args else
                                yaml.safe_load((self.house / args[args.index("--config") + 1]).read_text())["out"])
        if args[0] == "sweep" and args[1] != "report" and "again" in command.text:
            assert re.search(r"ran 0 cells .*; \d+ were already done", done.stdout), done.stdout
        if args[0] == "sim" and "--json" in args:
            assert '"episodes": 1' in done.stdout, done.stdout
        if args[:2] == ["policies", "promote"] and done.returncode:
            assert done.stderr.strip(), "a refused promotion says why"

    def make(self, args: list[str], where: str) -> None:
        dry = self.check(["make", "--no-print-directory", "-n", *args], where)
        if args == ["demo"]:
            recipe = shlex.split(dry.stdout.strip().splitlines()[-1])
            assert recipe[-2:] == ["-m", "robostral.demo"], dry.stdout
            done = self.check([*recipe, "--tasks", "reach"], where)
            assert re.search(r"1/1 instructions done|0/1 instructions done", done.stdout), done.stdout[-3000:]


def base_env() -> dict[str, str]:
    env = ros_env(next_domain())
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("PYTHONPATH", None)  # as a newcomer's shell: the venv's editable install finds the code
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.mark.parametrize("group", [case(g) for g in RUN])
def test_documented_block_runs(group: list[Block], tmp_path: Path) -> None:
    """The block's commands run in order and exit as documented (see the module docstring)."""
    block = group[0]
    recipe = Recipe(make_house(tmp_path), tmp_path / "commands.log", base_env())
    try:
        if block.lang == "python":
            recipe.check([sys.executable, "-c", block.source], block.where)
        for i, command in enumerate(block.commands):
            recipe.run(command, list(block.commands[i + 1:]))
    finally:
        recipe.stop_graph()
    assert recipe.ran, f"{block.where}: nothing ran"


def test_every_skipped_command_is_still_documented_and_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each skip entry matches a documented command, which the `robostral` parser accepts as written."""
    from robostral.cli import build_parser
    from robostral.commands.train import build_config

    commands = [c for g in GROUPS for b in g for c in b.commands]
    for (file, needle), why in SKIPS.items():
        matching = [c for c in commands if c.file == file and needle in c.text + "\n"]
        assert matching, f"skip entry {file}: {needle!r} ({why}) matches no documented command any more"
        for command in matching:
            args = robostral_args(words(command, {"R": ".venv/bin/robostral"}))
            if args is None:
                continue
            parsed = build_parser().parse_args(args)
            if args[0] == "train":
                monkeypatch.chdir(ROOT)
                assert build_config(parsed).steps > 0


def test_every_slow_entry_is_still_documented() -> None:
    """SLOW cannot rot: each entry matches a documented command."""
    commands = [c for g in GROUPS for b in g for c in b.commands]
    for file, needle in SLOW:
        assert any(c.file == file and needle in c.text for c in commands), f"SLOW entry {file}: {needle!r}"


def test_the_docs_have_commands() -> None:
    """The extraction finds the blocks it should (a broken fence parser would skip everything)."""
    shell = [b for g in GROUPS for b in g if b.lang == "shell"]
    assert {b.file for b in shell} >= {"README.md", "docs/training.md", "docs/sweeps.md", "docs/deployment.md"}
    assert sum(len(b.commands) for b in shell) >= 40
