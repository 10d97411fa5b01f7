"""Finished windows in the run's SQLite store: additive tables next to the engine's.

Each window result is written in ONE transaction with its "done" row, so after a crash, a
kill -9 of the driver or a lost worker the store holds whole windows only and a resumed run
redoes only the windows that had not come back. The tables are keyed by frame first, so the
stitcher streams them frame by frame like finalize streams `masks`.
"""
from __future__ import annotations

import json
import time

from ..engine.stitch import StitchRow
from ..engine.windows import WindowResult
from ..store import RunStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (idx INTEGER PRIMARY KEY, first INTEGER NOT NULL, last INTEGER NOT NULL,
                                    n_tracks INTEGER NOT NULL, n_masks INTEGER NOT NULL, units INTEGER NOT NULL,
                                    seconds REAL NOT NULL, stage_seconds TEXT NOT NULL, worker TEXT NOT NULL,
                                    done_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS window_tracks (idx INTEGER NOT NULL, root INTEGER NOT NULL, gen TEXT NOT NULL,
                                          PRIMARY KEY (idx, root)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_masks (frame INTEGER NOT NULL, idx INTEGER NOT NULL, root INTEGER NOT NULL,
                                         pid INTEGER NOT NULL, direction INTEGER NOT NULL, area INTEGER NOT NULL,
                                         rle BLOB NOT NULL, PRIMARY KEY (frame, idx, root)) WITHOUT ROWID;
"""


class WindowTables:
    """The window tables of one run store (shares the store's connection)."""

    def __init__(self, store: RunStore) -> None:
        self.db = store.db
        self.db.executescript(_SCHEMA)

    def done(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT idx FROM windows")}

    def commit(self, result: WindowResult) -> None:
        """Write a window's tracks and masks and mark it done, atomically; a window that is
        already done (a duplicate delivery after a retry) is ignored."""
        with self.db:
            if self.db.execute("SELECT 1 FROM windows WHERE idx = ?", (result.index,)).fetchone():
                return
            self.db.executemany("INSERT INTO window_tracks (idx, root, gen) VALUES (?, ?, ?)",
                                [(result.index, root, json.dumps(sorted(gen.items())))
                                 for root, gen in result.tracks.items()])
            self.db.executemany(
                "INSERT INTO window_masks (frame, idx, root, pid, direction, area, rle) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(f, result.index, root, pid, d, a, c) for f, root, pid, d, a, c in result.masks])
            # the shared key frame's masks come from both windows under one pid: the first one stays
            self.db.executemany("INSERT OR IGNORE INTO descriptors (pid, vector) VALUES (?, ?)", result.descriptors)
            self.db.execute(
                "INSERT INTO windows (idx, first, last, n_tracks, n_masks, units, seconds, stage_seconds, worker, "
                "done_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.index, result.first, result.last, len(result.tracks), len(result.masks), result.units,
                 result.seconds, json.dumps(result.stage_seconds), result.worker, time.time()))

    def tracks(self) -> dict[tuple[int, int], dict[int, float]]:
        return {(idx, root): {int(p): float(s) for p, s in json.loads(gen)}
                for idx, root, gen in self.db.execute("SELECT idx, root, gen FROM window_tracks")}

    def frame_rows(self, frame: int) -> list[StitchRow]:
        return [(i, r, p, d, a, bytes(c)) for i, r, p, d, a, c in self.db.execute(
            "SELECT idx, root, pid, direction, area, rle FROM window_masks WHERE frame = ? ORDER BY idx, root",
            (frame,))]

    def stage_seconds(self) -> dict[str, float]:
        """Worker-side seconds per stage summed over windows (CPU/GPU time, not wall time)."""
        total: dict[str, float] = {}
        for (text,) in self.db.execute("SELECT stage_seconds FROM windows"):
            for k, v in json.loads(text).items():
                total[k] = round(total.get(k, 0.0) + v, 4)
        return total

    def workers(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT worker, COUNT(*) FROM windows GROUP BY worker"))
