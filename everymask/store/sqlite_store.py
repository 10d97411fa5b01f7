"""`RunStore`: one SQLite file per run, the single source of truth, crash-safe and resumable.

Every unit of work (a key frame's generation, one propagation pass) writes its masks, its id
merges and its "done" row in ONE transaction, so after a kill -9 the store holds whole units
only, and a resumed run redoes at most the unit that was running. WAL mode keeps readers (info,
the viewer) working while a run writes.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import EverymaskError
from ..faults import crash_point
from ..masks import RLE, Masks
from .run_state import RunState

SCHEMA_VERSION = 2  # 2: rowid mask tables, RLE counts deflated (pack_counts), merge kinds, descriptors, window tables
STORE_NAME = "everymask.sqlite"

# direction column of the masks table
GENERATED, FORWARD, BACKWARD = 0, 1, -1

# `masks` and `track_masks` are rowid tables: their rows (a deflated RLE, 100 B to several KB) are
# too large for WITHOUT ROWID, whose b-tree spills any row over ~1 KB into a 4 KB overflow page.
# See benchmarks/RESULTS.md, "Where the store's bytes go".
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (name TEXT PRIMARY KEY, n_out INTEGER NOT NULL, seconds REAL NOT NULL,
                                  stage TEXT NOT NULL, done_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS masks (frame INTEGER NOT NULL, pid INTEGER NOT NULL, direction INTEGER NOT NULL,
                                  area INTEGER NOT NULL, score REAL NOT NULL, rle BLOB NOT NULL,
                                  PRIMARY KEY (frame, pid));
CREATE TABLE IF NOT EXISTS merges (a INTEGER NOT NULL, b INTEGER NOT NULL, iou REAL NOT NULL,
                                   frame INTEGER NOT NULL, direction INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS descriptors (pid INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (track_id INTEGER PRIMARY KEY, root INTEGER NOT NULL UNIQUE,
                                   first INTEGER NOT NULL, last INTEGER NOT NULL, num_frames INTEGER NOT NULL,
                                   score REAL NOT NULL, mean_area REAL NOT NULL, parent INTEGER);
CREATE TABLE IF NOT EXISTS track_masks (track_id INTEGER NOT NULL, frame INTEGER NOT NULL, area INTEGER NOT NULL,
                                        rle BLOB NOT NULL, PRIMARY KEY (track_id, frame));
CREATE INDEX IF NOT EXISTS track_masks_frame ON track_masks (frame);
-- finished windows of the windowed executors (executors/): each written in one transaction
CREATE TABLE IF NOT EXISTS windows (idx INTEGER PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL,
                                    n_tracks INTEGER NOT NULL, n_masks INTEGER NOT NULL, units INTEGER NOT NULL,
                                    seconds REAL NOT NULL, stage_seconds TEXT NOT NULL, worker TEXT NOT NULL,
                                    done_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS window_tracks (idx INTEGER NOT NULL, root INTEGER NOT NULL, gen TEXT NOT NULL,
                                          PRIMARY KEY (idx, root));
CREATE TABLE IF NOT EXISTS window_masks (frame INTEGER NOT NULL, idx INTEGER NOT NULL, root INTEGER NOT NULL,
                                         pid INTEGER NOT NULL, direction INTEGER NOT NULL, area INTEGER NOT NULL,
                                         rle BLOB NOT NULL, PRIMARY KEY (frame, idx, root));
"""

# raw deflate with a 1 KB window: as small as level 9 with a 32 KB one on mask RLEs, at a sixth of
# the cost (the window's setup dominates for strings of a few hundred bytes)
_WBITS = -10


def pack_counts(counts: bytes) -> bytes:
    """A pycocotools compressed-RLE counts string as stored: deflated, about a third smaller."""
    return zlib.compress(counts, 6, _WBITS)


def unpack_counts(blob: bytes) -> bytes:
    return zlib.decompress(blob, _WBITS)



@dataclass(frozen=True)
class TrackRow:
    track_id: int
    first: int
    last: int
    num_frames: int
    score: float
    mean_area: float
    parent: int | None


class RunStore:
    """Owns the SQLite connection of one run directory."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:  # read only, but able to checkpoint and remove the WAL on close when allowed
                mode = "rw" if os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK) else "ro"
                self.db = sqlite3.connect(f"file:{quote(str(self.path))}?mode={mode}", uri=True, timeout=30)
            else:
                self.db = sqlite3.connect(self.path, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise EverymaskError(f"{self.path} is not a readable everymask store ({e}); "
                                 "rerun with --fresh to start over") from None

    # lifecycle ----------------------------------------------------------------------------
    @classmethod
    def open(cls, run_dir: Path, readonly: bool = False) -> "RunStore":
        path = Path(run_dir) / STORE_NAME
        if readonly and not path.exists():
            raise EverymaskError(f"{run_dir} holds no everymask run ({STORE_NAME} is missing)")
        return cls(path, readonly=readonly)

    def close(self) -> None:
        self.db.close()

    def check_integrity(self) -> None:
        try:
            row = self.db.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as e:
            row = (str(e),)
        if row is None or row[0] != "ok":
            raise EverymaskError(f"the store {self.path} is corrupt ({row[0] if row else 'no answer'}); "
                                 "rerun with --fresh to start over")

    # run state ----------------------------------------------------------------------------
    def state(self) -> RunState:
        """The run's typed record (store/run_state.py), read from the `meta` table."""
        return RunState.from_rows(dict(self.db.execute("SELECT key, value FROM meta")))

    def update_state(self, **changes: Any) -> RunState:
        """Set these fields of the run's record, in one transaction; returns the record after."""
        state = self.state()
        for name, value in changes.items():
            if not hasattr(state, name):
                raise AttributeError(f"RunState has no field {name!r}")
            setattr(state, name, value)
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                list(state.to_rows(list(changes)).items()))
        return state

    # units --------------------------------------------------------------------------------
    def done_units(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, n_out FROM units"))

    def stage_seconds(self) -> dict[str, float]:
        return dict(self.db.execute("SELECT stage, SUM(seconds) FROM units GROUP BY stage"))

    def commit_unit(self, name: str, stage: str, n_out: int, seconds: float,
                    frames: Sequence[tuple[int, Masks]] = (),
                    merges: Sequence[tuple[int, int, float, int, int, str]] = (),
                    descriptors: dict[int, np.ndarray] | None = None) -> None:
        """Write a unit's results and mark it done, atomically.

        `frames`: (frame, masks) with ids = provisional ids and `data["direction"]` (GENERATED,
        FORWARD or BACKWARD). `merges` (a, b, iou, frame, direction, kind) keep their order:
        finalize replays them in the order they were decided. `descriptors`: pid -> appearance
        vector (stored as float16).
        """
        rows = [(frame, int(pid), int(d), int(a), float(sc), pack_counts(r["counts"]))
                for frame, masks in frames
                for pid, d, a, sc, r in zip(masks.ids, masks.data["direction"], masks.areas, masks.scores, masks.rles)]
        with self.db:
            self.db.executemany(
                "INSERT INTO masks (frame, pid, direction, area, score, rle) VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.db.executemany("INSERT INTO merges (a, b, iou, frame, direction, kind) VALUES (?, ?, ?, ?, ?, ?)",
                                merges)
            self.db.executemany("INSERT INTO descriptors (pid, vector) VALUES (?, ?)",
                                [(int(pid), np.asarray(v, np.float16).tobytes())
                                 for pid, v in (descriptors or {}).items()])
            crash_point("commit")
            self.db.execute("INSERT INTO units (name, n_out, seconds, stage, done_at) VALUES (?, ?, ?, ?, ?)",
                            (name, n_out, seconds, stage, time.time()))

    # masks --------------------------------------------------------------------------------
    def frame_masks(self, frame: int, size: tuple[int, int], direction: int | None = None,
                    pid_range: tuple[int, int] | None = None) -> Masks:
        """One frame's stored masks by provisional id: ids = pids, `data["direction"]`, areas as stored."""
        sql, args = "SELECT pid, direction, area, score, rle FROM masks WHERE frame = ?", [frame]
        if direction is not None:
            sql += " AND direction = ?"
            args.append(direction)
        if pid_range is not None:
            sql += " AND pid >= ? AND pid < ?"
            args += list(pid_range)
        rows = self.db.execute(sql + " ORDER BY pid", args).fetchall()
        return Masks(size=size, ids=[r[0] for r in rows],
                     rles=[{"size": list(size), "counts": unpack_counts(r[4])} for r in rows],
                     scores=[r[3] for r in rows], data={"direction": np.array([r[1] for r in rows], np.int64)},
                     known_areas=[r[2] for r in rows])

    def merges(self) -> list[tuple[int, int, float]]:
        """Every id merge (a, b, iou) in the order the units decided them."""
        return [tuple(r) for r in self.db.execute("SELECT a, b, iou FROM merges ORDER BY rowid")]

    def descriptors(self, pids: Iterable[int]) -> dict[int, np.ndarray]:
        """pid -> appearance vector (float32) for those of `pids` the backend described."""
        out: dict[int, np.ndarray] = {}
        pids = sorted(set(int(p) for p in pids))
        for i in range(0, len(pids), 500):
            chunk = pids[i:i + 500]
            sql = f"SELECT pid, vector FROM descriptors WHERE pid IN ({','.join('?' * len(chunk))})"
            out.update((pid, np.frombuffer(v, np.float16).astype(np.float32)) for pid, v in self.db.execute(sql, chunk))
        return out

    def generated_scores(self) -> dict[int, float]:
        return dict(self.db.execute("SELECT pid, score FROM masks WHERE direction = 0"))

    # windows (the windowed executors) ----------------------------------------------------------
    def commit_window(self, index: int, first: int, last: int, tracks: dict[int, dict[int, float]],
                      frames: Sequence[tuple[int, Masks]], descriptors: Sequence[tuple[int, bytes]],
                      units: int, seconds: float, stage_seconds: dict[str, float], worker: str) -> None:
        """Write a finished window (its tracks; per frame one mask per track, ids = window-local roots
        with `data` pid and direction; its descriptors) and mark it done, atomically; a window already
        done (a duplicate delivery after a retry) is ignored."""
        rows = [(frame, index, int(root), int(pid), int(d), int(a), pack_counts(r["counts"]))
                for frame, m in frames
                for root, pid, d, a, r in zip(m.ids, m.data["pid"], m.data["direction"], m.areas, m.rles)]
        with self.db:
            if self.db.execute("SELECT 1 FROM windows WHERE idx = ?", (index,)).fetchone():
                return
            self.db.executemany("INSERT INTO window_tracks (idx, root, gen) VALUES (?, ?, ?)",
                                [(index, root, json.dumps(sorted(gen.items()))) for root, gen in tracks.items()])
            self.db.executemany(
                "INSERT INTO window_masks (frame, idx, root, pid, direction, area, rle) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows)
            # the shared key frame's masks come from both windows under one pid: the first one stays
            self.db.executemany("INSERT OR IGNORE INTO descriptors (pid, vector) VALUES (?, ?)", descriptors)
            self.db.execute(
                "INSERT INTO windows (idx, first, last, n_tracks, n_masks, units, seconds, stage_seconds, worker, "
                "done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (index, first, last, len(tracks), len(rows), units, seconds, json.dumps(stage_seconds), worker,
                 time.time()))

    def done_windows(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT idx FROM windows")}

    def window_tracks(self) -> dict[tuple[int, int], dict[int, float]]:
        """(window, window-local root) -> {generated pid: score}."""
        return {(idx, root): {int(p): float(s) for p, s in json.loads(gen)}
                for idx, root, gen in self.db.execute("SELECT idx, root, gen FROM window_tracks")}

    def window_frame_masks(self, frame: int, size: tuple[int, int]) -> Masks:
        """One frame's window masks by window and root: ids = window-local roots, `data` window, pid, direction."""
        rows = self.db.execute("SELECT idx, root, pid, direction, area, rle FROM window_masks WHERE frame = ? "
                               "ORDER BY idx, root", (frame,)).fetchall()
        column = lambda n: np.array([r[n] for r in rows], np.int64)  # noqa: E731
        return Masks(size=size, ids=column(1), rles=[{"size": list(size), "counts": unpack_counts(r[5])} for r in rows],
                     scores=np.ones(len(rows), np.float32),
                     data={"window": column(0), "pid": column(2), "direction": column(3)}, known_areas=column(4))

    def window_stage_seconds(self) -> dict[str, float]:
        """Worker-side seconds per stage summed over windows (CPU/GPU time, not wall time)."""
        total: dict[str, float] = {}
        for (text,) in self.db.execute("SELECT stage_seconds FROM windows"):
            for k, v in json.loads(text).items():
                total[k] = round(total.get(k, 0.0) + v, 4)
        return total

    def window_workers(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT worker, COUNT(*) FROM windows GROUP BY worker"))

    def mask_table_stats(self, table: str = "masks") -> tuple[int, int]:
        """(masks, bytes of their stored RLEs) in the engine's `masks` or the windowed executors'
        `window_masks` (absent until a windowed run creates it: (0, 0))."""
        if table not in ("masks", "window_masks"):
            raise ValueError(f"{table!r} is not a table of masks")
        if not self.db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (table,)).fetchone():
            return 0, 0
        n, size = self.db.execute(f"SELECT COUNT(*), COALESCE(SUM(LENGTH(rle)), 0) FROM {table}").fetchone()
        return n, size

    def file_bytes(self) -> int:
        """What the store takes on disk once checkpointed: its pages in use (those in the WAL included)."""
        page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * page_size

    # final tracks -------------------------------------------------------------------------
    def write_tracks(self, track_masks: Iterable[tuple[int, int, int, bytes]],
                     tracks: Callable[[], list[TrackRow]], roots: dict[int, int]) -> None:
        """Replace the final tracks in one transaction (finalize is redone whole if killed).

        `tracks` is called after `track_masks` is consumed, so rows can be summarised while written.
        """
        with self.db:
            self.db.execute("DELETE FROM tracks")
            self.db.execute("DELETE FROM track_masks")
            self.db.executemany("INSERT INTO track_masks (track_id, frame, area, rle) VALUES (?, ?, ?, ?)",
                                ((t, f, a, pack_counts(c)) for t, f, a, c in track_masks))
            crash_point("finalize")
            self.db.executemany(
                "INSERT INTO tracks (track_id, root, first, last, num_frames, score, mean_area, parent) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(t.track_id, roots[t.track_id], t.first, t.last, t.num_frames, t.score, t.mean_area, t.parent)
                 for t in tracks()])

    def set_track_scores(self, scores: dict[int, float]) -> None:
        """Replace the final tracks' scores (engine/track_score.py), in one transaction."""
        with self.db:
            self.db.executemany("UPDATE tracks SET score = ? WHERE track_id = ?",
                                [(float(s), int(t)) for t, s in scores.items()])

    def tracks(self) -> list[TrackRow]:
        return [TrackRow(*r) for r in self.db.execute(
            "SELECT track_id, first, last, num_frames, score, mean_area, parent FROM tracks ORDER BY track_id")]

    def track_mask_rows(self, track_id: int, size: tuple[int, int]) -> Iterator[tuple[int, RLE]]:
        for frame, rle in self.db.execute(
                "SELECT frame, rle FROM track_masks WHERE track_id = ? ORDER BY frame", (track_id,)):
            yield frame, {"size": list(size), "counts": unpack_counts(rle)}

    def frame_track_masks(self, frame: int, size: tuple[int, int]) -> Masks:
        rows = self.db.execute("SELECT track_id, rle FROM track_masks WHERE frame = ? ORDER BY track_id",
                               (frame,)).fetchall()
        return Masks(size=size, ids=np.array([r[0] for r in rows], np.int64),
                     rles=[{"size": list(size), "counts": unpack_counts(r[1])} for r in rows],
                     scores=np.ones(len(rows), np.float32))

    def masks_per_frame(self) -> dict[int, int]:
        return dict(self.db.execute("SELECT frame, COUNT(*) FROM track_masks GROUP BY frame"))
