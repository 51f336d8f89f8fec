"""Camera frames for training, decoded once: a uint8 file per camera on disk, reused by later runs.

Training draws random frames from the whole dataset every step. Kept as PNG (``EncodedImages``) each batch
decodes its frames again; a cache decodes every frame once, with a progress bar, into one raw (N, H, W, 3)
uint8 file per image column, which later runs map read-only (``np.memmap``: the page cache holds what fits in
memory, the disk serves the rest). Beside each file a JSON record names the dataset contents it was decoded
from (``Dataset.hash()``), its shape and its bytes' sha256; it is written last, so a build that was cut short
leaves no cache. A cache whose record does not match the dataset as it is now, or whose bytes are truncated or
changed, is never read: it is decoded again. Caches live in ``<dataset>/.frame_cache/<dataset hash>/`` unless
``TrainConfig.frame_cache_dir`` names another folder; there, building one removes the caches of the dataset's
earlier contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from robostral.data import Dataset
from robostral.data.encoded_images import EncodedImages
from robostral.data.files import atomic_write, write_synced

CACHE_DIR = ".frame_cache"  # in the dataset's folder, unless TrainConfig.frame_cache_dir names another
FORMAT = 1  # of the JSON record; a cache of another format is built again
SPARE_BYTES = 1 << 30  # left free on the disk after a cache is built; with less room training decodes per batch
_BLOCK = 64 << 20  # bytes hashed at a time


def cache_folder(dataset: Dataset, frame_cache_dir: str = "") -> Path:
    """Where the caches of ``dataset``'s current contents live (``frame_cache_dir`` "" = inside the dataset)."""
    return Path(frame_cache_dir or dataset.root / CACHE_DIR) / dataset.hash()


def camera_frames(
    dataset: Dataset, columns: list[str], mode: str, frame_cache_dir: str = ""
) -> dict[str, np.ndarray | EncodedImages]:
    """The image ``columns`` of ``dataset`` as training reads them, by ``TrainConfig.frame_cache`` ``mode``.

    "disk": cached uint8 frames, decoded and written on first use; where the disk lacks room or the folder
    cannot be written, says so and falls back to "off". "memory": every frame decoded into memory. "off": PNG
    in memory, decoded when indexed. Every mode yields the same frames.
    """
    if mode == "memory":
        return dataset.load_arrays(columns)
    if mode == "off":
        return dataset.load_arrays(columns, encoded_images=True)
    folder = cache_folder(dataset, frame_cache_dir)
    frames = {}
    for column in columns:
        frames[column] = open_frame_cache(dataset, column, folder)
        if frames[column] is None:
            frames[column] = _build_or_fall_back(dataset, column, folder, pruned=not frame_cache_dir)
    return frames


def open_frame_cache(dataset: Dataset, column: str, folder: Path) -> np.ndarray | None:
    """``column``'s cached frames in ``folder``, read-only, if a complete cache of ``dataset`` as it is now is
    there and its bytes hash as recorded; None if there is none (a damaged one is reported)."""
    data, record = _data_path(folder, column), _record_path(folder, column)
    if not record.is_file():
        return None
    expected = {"format": FORMAT, "dataset_hash": dataset.hash(), "column": column,
                "shape": [dataset.num_frames, *dataset.features[column]["shape"]]}
    try:
        recorded = json.loads(record.read_text())
        problem = next((f"its {key} is {recorded.get(key)!r}, not {value!r}" for key, value in expected.items()
                        if recorded.get(key) != value), None)
    except (OSError, ValueError, AttributeError) as error:
        problem = f"its record is unreadable ({error})"
    if problem is None:
        size = data.stat().st_size if data.is_file() else None
        if size != int(np.prod(expected["shape"])):
            problem = f"it holds {size} bytes, not the {int(np.prod(expected['shape']))} of {expected['shape']}"
        elif _sha256(data, f"check {column}") != recorded.get("sha256"):
            problem = "its bytes do not hash as recorded (changed since it was written)"
    if problem is not None:
        tqdm.write(f"frame cache {data} is not used: {problem}; decoding the frames again")
        return None
    return _map(data, tuple(expected["shape"]))


def build_frame_cache(dataset: Dataset, column: str, folder: Path) -> np.ndarray:
    """Decode every frame of ``column`` into ``folder`` (replacing any cache of it there); the frames, read-only."""
    shape = (dataset.num_frames, *dataset.features[column]["shape"])
    data, record = _data_path(folder, column), _record_path(folder, column)
    record.unlink(missing_ok=True)  # first: no moment where a record stands beside other bytes
    digest = hashlib.sha256()

    def write(handle) -> None:
        for _, image in tqdm(dataset.image_frames(column), total=shape[0], desc=f"decode {column}", unit="frame",
                             dynamic_ncols=True):
            frame = np.ascontiguousarray(image).data
            handle.write(frame)
            digest.update(frame)

    temporary = data.with_name(f".{data.name}.{os.getpid()}.tmp")
    write_synced(temporary, write)
    os.replace(temporary, data)
    text = json.dumps({"format": FORMAT, "dataset_hash": dataset.hash(), "column": column, "shape": list(shape),
                       "sha256": digest.hexdigest()}, indent=1)
    atomic_write(record, lambda handle: handle.write(text.encode()))
    return _map(data, shape)


def _build_or_fall_back(dataset: Dataset, column: str, folder: Path, pruned: bool) -> np.ndarray | EncodedImages:
    """``build_frame_cache``, after removing the caches of earlier contents if ``pruned``; PNG frames (as
    ``frame_cache: off``) where the disk lacks room or the folder cannot be written."""
    needed = dataset.num_frames * int(np.prod(dataset.features[column]["shape"]))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if pruned:
            for stale in folder.parent.iterdir():
                if stale != folder and stale.is_dir():
                    shutil.rmtree(stale)
        free = shutil.disk_usage(folder).free
        if free < needed + SPARE_BYTES:
            raise OSError(f"{free / 2**30:.1f} GiB free, it needs {needed / 2**30:.1f} GiB and leaves "
                          f"{SPARE_BYTES / 2**30:.0f} GiB spare")
        return build_frame_cache(dataset, column, folder)
    except OSError as error:
        tqdm.write(f"no frame cache in {folder} ({error}): decoding {column} per batch instead, which is slower "
                   "(frame_cache_dir can point elsewhere)")
        return dataset.load_arrays([column], encoded_images=True)[column]


def _data_path(folder: Path, column: str) -> Path:
    return folder / f"{column}.u8"


def _record_path(folder: Path, column: str) -> Path:
    return folder / f"{column}.json"


def _map(data: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The file's frames as a read-only array (an empty one for no frames: an empty file cannot be mapped)."""
    return np.memmap(data, dtype=np.uint8, mode="r", shape=shape) if shape[0] else np.zeros(shape, np.uint8)


def _sha256(path: Path, description: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(total=path.stat().st_size, desc=description, unit="B", unit_scale=True,
                                          dynamic_ncols=True, leave=False) as progress:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
            progress.update(len(block))
    return digest.hexdigest()
