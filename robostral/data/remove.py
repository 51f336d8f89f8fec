"""Remove episodes from a dataset in place, as crash-safe as appending them.

Episode numbers and frame indices run 0, 1, 2, ... with no gap, so the episodes after the first
removed one are renumbered: the data files that hold them are written anew, under new file numbers
(never over a file the committed metadata refers to), then the metadata files are replaced together
through the journal (``files.commit``), then the old files are deleted. A crash before the commit
leaves the dataset as it was, after it the dataset without the removed episodes; either way the only
trace is data files that no episode refers to, which readers ignore and the next writer deletes.
Files before the first one that changes are not touched. Tasks are numbered as a writer of the episodes left
would number them (in the order they first appear): a task no episode uses any more is dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robostral.data.files import atomic_write, commit
from robostral.data.layout import CHUNKS_SIZE, arrow_schema, data_path
from robostral.data.reader import DatasetError, load_dataset
from robostral.data.stats import STAT_NAMES, aggregate, vector_stats
from robostral.data.writer import META_FILES, DatasetSpec, DatasetWriter, _parquet

RENUMBERED = ("episode_index", "index", "task_index")  # the columns (and per-episode stats) a removal changes


def remove_episodes(root: str | os.PathLike, indices: Iterable[int],
                    edit_provenance: Callable[[dict], None] | None = None) -> int:
    """Remove the episodes numbered ``indices`` from the dataset at ``root``; the number of episodes left.

    ``edit_provenance`` is called with info.json's ``robostral`` object before the commit, to change
    what it says of the removed episodes in the same commit. DatasetError for an episode that is not
    there or a dataset another process is writing.
    """
    with _Remover(root, DatasetSpec.of(load_dataset(root))) as writer:
        return writer.remove(set(indices), edit_provenance)


class _Remover(DatasetWriter):
    """A writer (it holds the directory's lock) that removes episodes instead of adding them."""

    def remove(self, indices: set[int], edit_provenance: Callable[[dict], None] | None) -> int:
        rows = self._episodes.to_pylist()
        wrong = sorted(str(i) for i in indices if isinstance(i, bool) or not isinstance(i, int)
                       or not 0 <= i < len(rows))
        if wrong or not indices:
            raise DatasetError(f"{self.root}: no episode {', '.join(wrong) or '(none given)'}; it has {len(rows)}")
        kept = [i for i in range(len(rows)) if i not in indices]
        tasks = list(dict.fromkeys(task for i in kept for task in rows[i]["tasks"]))  # as a writer would number them
        task_map = np.array([tasks.index(task) if task in tasks else -1 for task in self.tasks], dtype=np.int64)
        files: dict[int, list[int]] = {}  # data file number -> its episodes, in order
        for i, row in enumerate(rows):
            files.setdefault(row["data/chunk_index"] * CHUNKS_SIZE + row["data/file_index"], []).append(i)
        order = list(files)
        first = next(n for n, number in enumerate(order) if any(
            i in indices or any(task_map[self.tasks.index(t)] != self.tasks.index(t) for t in rows[i]["tasks"])
            for i in files[number]))
        new_rows = [rows[i] for number in order[:first] for i in files[number]]
        frames = sum(row["length"] for row in new_rows)
        written, next_file = [], self._next_file
        info = json.loads(json.dumps(self.info))
        try:
            for number in order[first:]:
                keep = [i for i in files[number] if i not in indices]
                if not keep:
                    continue
                table, renumbered = self._renumbered(number, [rows[i] for i in files[number]], keep, rows,
                                                     len(new_rows), frames, task_map)
                written.append(self.root / data_path(next_file))
                atomic_write(written[-1], _parquet(table))
                chunk_index, file_index = divmod(next_file, CHUNKS_SIZE)
                for row in renumbered:
                    row.update({"data/chunk_index": chunk_index, "data/file_index": file_index})
                    frames += row["length"]
                new_rows += renumbered
                next_file += 1
            info.update(total_episodes=len(new_rows), total_frames=frames, total_tasks=len(tasks),
                        splits={"train": f"0:{len(new_rows)}"} if new_rows else {})
            stats = {key: aggregate([{name: np.asarray(row[f"stats/{key}/{name}"]) for name in STAT_NAMES}
                                     for row in new_rows]) for key in self.features} if new_rows else {}
            if edit_provenance is not None:
                edit_provenance(info.setdefault("robostral", {}))
            episodes = pa.Table.from_pylist(new_rows, schema=self._episodes.schema)
            self._stage_meta(info, tasks, episodes, stats)
        except BaseException:
            for path in written:  # never referenced by committed metadata: take them back
                path.unlink(missing_ok=True)
            raise
        commit(self.root, META_FILES)
        for number in order[first:]:  # referenced no more: a crash before this leaves them for the next writer
            (self.root / data_path(number)).unlink(missing_ok=True)
        self.info, self.tasks, self._episodes, self.stats = info, tasks, episodes, stats
        self._next_file = next_file
        self._keys = {(row["sim_task"], row["seed"]) for row in new_rows}
        return len(new_rows)

    def _renumbered(self, number: int, in_file: list[dict], keep: list[int], rows: list[dict], first_episode: int,
                    first_frame: int, task_map: np.ndarray) -> tuple[pa.Table, list[dict]]:
        """Data file ``number`` without its removed episodes, renumbered from ``first_episode`` and
        ``first_frame``, and the kept episodes' new rows of the episodes table."""
        table = pq.read_table(self.root / data_path(number), page_checksum_verification=True)
        start = in_file[0]["dataset_from_index"]
        table = pa.concat_tables([table.slice(rows[i]["dataset_from_index"] - start, rows[i]["length"])
                                  for i in keep])
        lengths = np.array([rows[i]["length"] for i in keep])
        columns = {
            "episode_index": np.repeat(np.arange(first_episode, first_episode + len(keep)), lengths),
            "index": np.arange(first_frame, first_frame + lengths.sum()),
            "task_index": task_map[table.column("task_index").to_numpy()],
        }
        schema = arrow_schema(self.features)
        table = pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else table.column(f.name)
                                      for f in schema], schema=schema)
        renumbered, offset = [], 0
        for n, i in enumerate(keep):
            row = dict(rows[i])
            row.update(episode_index=first_episode + n, dataset_from_index=first_frame + offset,
                       dataset_to_index=first_frame + offset + row["length"])
            for key in RENUMBERED:
                values = columns[key][offset:offset + row["length"]]
                row.update({f"stats/{key}/{name}": value.tolist() for name, value in vector_stats(values).items()})
            offset += row["length"]
            renumbered.append(row)
        return table, renumbered
