"""Exported encoders kept between exports: the same inputs give the same bytes, so they are made once.

Exporting MiniLM to ONNX takes ~13 s on a 2-core CPU, and every bundle export needs one. The
export is deterministic (``robostral.export.onnx_graph``), so its files are kept under a key
that names everything the bytes depend on: the pooling, the sha256 of the encoder's weights,
config and tokenizer, the source of the modules that build and trace the graph, and the torch
and onnx versions. A kept copy is used only when its files still have the sha256 recorded when
they were kept. ``ROBOSTRAL_CACHE_DIR`` moves the cache (default ``~/.cache/robostral``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

import onnx
import torch

from robostral.bundle.card import sha256_file

MANIFEST = "sha256.json"


def cache_root() -> Path:
    return Path(os.environ.get("ROBOSTRAL_CACHE_DIR") or Path.home() / ".cache" / "robostral") / "encoders"


def cache_key(pooling: str, model_dir: Path, modules: tuple) -> str:
    """The key of the encoder exported with ``pooling`` from ``model_dir`` by the code of ``modules``."""
    digest = hashlib.sha256(f"{pooling}\0{torch.__version__}\0{onnx.__version__}\0".encode())
    for path in sorted(p for p in model_dir.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + bytes.fromhex(sha256_file(path)))
    for module in modules:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()


def fetch(key: str, out_dir: Path, names: tuple[str, ...]) -> bool:
    """Copy the kept files of ``key`` into ``out_dir``; False (nothing copied) when none are kept or they changed."""
    kept = cache_root() / key
    if not kept.is_dir():
        return False
    try:
        recorded = json.loads((kept / MANIFEST).read_text())
        intact = sorted(recorded) == sorted(names) and all(sha256_file(kept / n) == recorded[n] for n in names)
    except (OSError, ValueError):
        intact = False
    if not intact:  # changed or half-kept: removed, so that this export's files take its place
        shutil.rmtree(kept, ignore_errors=True)
        return False
    for name in names:
        shutil.copyfile(kept / name, out_dir / name)
    return True


def store(key: str, directory: Path, names: tuple[str, ...]) -> None:
    """Keep ``directory``'s files ``names`` under ``key``; a cache that cannot be written is skipped, not an error."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", dir=root))
    except OSError:
        return
    try:
        for name in names:
            shutil.copyfile(directory / name, staging / name)
        (staging / MANIFEST).write_text(json.dumps({n: sha256_file(staging / n) for n in names}))
        os.replace(staging, root / key)  # whole or not at all; an entry another export kept meanwhile stays
    except OSError:
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
