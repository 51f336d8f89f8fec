"""Crash-safe file updates for a dataset directory: atomic writes, a metadata journal, a writer lock.

Replacing one file is atomic (temporary name, fsync, rename). Replacing the four
metadata files together is not, so a flush stages their new versions under hidden
names, then commits by writing ``meta/.journal.json`` (which new file replaces which),
then renames them into place and deletes the journal. A crash after the commit leaves
the journal: readers then take the staged files, and the next writer finishes the renames.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

JOURNAL_PATH = "meta/.journal.json"
LOCK_NAME = ".robostral.lock"


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` whole or not at all: temporary file, fsync, rename, fsync the directory."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_synced(temporary, write)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def write_synced(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` and fsync it; on any error (Ctrl-C included) the partial file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def staged_name(relative: str) -> str:
    """Where the next version of the metadata file ``relative`` waits for its commit."""
    path = Path(relative)
    return (path.parent / f".{path.name}.staged").as_posix()


def commit(root: Path, relatives: list[str]) -> None:
    """Make the staged versions of ``relatives`` current, all of them or (if never committed) none."""
    atomic_write(root / JOURNAL_PATH, lambda f: f.write(json.dumps(relatives).encode()))
    finish_commit(root)


def finish_commit(root: Path) -> None:
    """Rename a committed journal's staged files into place (idempotent), then drop the journal."""
    journal = root / JOURNAL_PATH
    if not journal.exists():
        return
    for relative in json.loads(journal.read_text()):
        staged = root / staged_name(relative)
        if staged.exists():
            os.replace(staged, root / relative)
            fsync_directory(staged.parent)
    journal.unlink()
    fsync_directory(journal.parent)


def current_path(root: Path, relative: str) -> Path:
    """The file that holds the committed version of ``relative``: a staged one while a journal is pending."""
    journal = root / JOURNAL_PATH
    if journal.exists():
        staged = root / staged_name(relative)
        if relative in json.loads(journal.read_text()) and staged.exists():
            return staged
    return root / relative


def lock_exclusive(root: Path) -> BinaryIO:
    """Hold ``root`` for one writer; raises ``BlockingIOError`` while another process holds it."""
    handle = open(root / LOCK_NAME, "wb")  # noqa: SIM115 - held open for the writer's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise
    return handle


def is_being_written(root: Path) -> bool:
    """Whether a live writer holds ``root`` (a killed one releases it with its process)."""
    try:
        handle = open(root / LOCK_NAME, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
