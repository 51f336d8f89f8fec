"""The commands the README and docs/*.md show, read from their fenced code blocks (tests/test_documented_commands.py).

A block is a shell block when its fence says ``bash``, ``sh``, ``shell`` or ``console``, or, unmarked,
when it has ``$ `` prompts or its first line that is not a comment starts with a command (``export``,
``make``, ``NAME=value`` or a program on the venv's PATH); diagrams, trees and config files are not.
In a block with ``$ `` prompts (console) only the prompted lines are commands, a deeper-indented line
continues the one before and the other lines are the output shown; elsewhere every line that is not a
comment is a command, a trailing ``\\`` joining the next line. ``python`` blocks are Python scripts.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SHELL_LANGS = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")


def documents() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Command:
    file: str  # relative to the repository root
    line: int  # 1-based line of the command's first line
    text: str  # as written, continuation lines joined; comments still in
    shown: tuple[str, ...] = ()  # console blocks: the output lines shown after it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # the opening fence's line
    lang: str  # "shell" or "python"
    commands: tuple[Command, ...] = field(default=())
    source: str = ""  # the block's text (python blocks)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _is_command_word(word: str) -> bool:
    if word in ("export", "make", "for", "cd") or ASSIGNMENT.match(word):
        return True
    path = f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin"
    return word.startswith(".venv/bin/") or shutil.which(word, path=path) is not None


def _shell_like(lang: str, lines: list[str]) -> bool:
    if lang in SHELL_LANGS:
        return True
    if lang:
        return False
    if any(text.startswith("$ ") for text in lines):
        return True
    first = next((text for text in lines if text.strip() and not text.lstrip().startswith("#")), "")
    return bool(first.split()) and _is_command_word(first.split()[0])


def _commands(file: str, body: list[tuple[int, str]]) -> tuple[Command, ...]:
    if any(text.startswith("$ ") for _, text in body):  # console: prompts, continuations, output
        found: list[list] = []
        for number, text in body:
            if text.startswith("$ "):
                found.append([number, text[2:], []])
            elif found and text[:1].isspace() and not found[-1][2]:
                found[-1][1] += "\n" + text
            elif found and text.strip():
                found[-1][2].append(text.strip())
        return tuple(Command(file, n, t, tuple(shown)) for n, t, shown in found)
    commands: list[Command] = []
    pending: tuple[int, str] | None = None
    for number, text in body:
        stripped = text.strip()
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        start, so_far = pending if pending else (number, "")
        joined = so_far + stripped
        if joined.endswith("\\"):
            pending = (start, joined[:-1].rstrip() + " ")
            continue
        pending = None
        commands.append(Command(file, start, joined))
    return tuple(commands)


def extract(path: Path) -> list[Block]:
    """The shell and python blocks of one Markdown file, in order."""
    file = path.relative_to(ROOT).as_posix()
    blocks, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"].lower()
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and not lines[j].strip().strip(fence[0])):
            text = lines[j]
            body.append((j + 1, text[len(indent):] if text.startswith(indent) else text.lstrip()))
            j += 1
        if lang == "python":
            blocks.append(Block(file, i + 1, "python", source="\n".join(text for _, text in body)))
        elif _shell_like(lang, [text for _, text in body]):
            blocks.append(Block(file, i + 1, "shell", _commands(file, body)))
        i = j + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in extract(path)]
