"""`Run`: a finished (or partial) run directory, read through its store.

Its own module because every exporter reads runs: it depends only on the store and the config,
so `export/*` can import it without importing the API that runs jobs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .config import RunConfig
from .errors import EverymaskError
from .masks import RLE, Masks
from .store import STORE_NAME, RunStore, TrackRow

Track = TrackRow


class Run:
    """A finished (or partial) run directory, read through its store."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.store = RunStore.open(self.dir, readonly=True)
        state = self.store.state()
        if not state.started:
            raise EverymaskError(f"{self.dir} holds an everymask store that was never started; run it again")
        self.state = state
        self.config = RunConfig.from_mapping(json.loads(state.config), where=str(self.dir / STORE_NAME))
        self.num_frames = state.num_frames
        self.size = state.size
        self.input_size = state.input_size
        self.fps = state.fps
        self.source = state.source

    def tracks(self) -> list[Track]:
        return self.store.tracks()

    def track_masks(self, track_id: int) -> Iterator[tuple[int, RLE]]:
        """(frame, RLE at processing size) for every frame the track is visible on."""
        return self.store.track_mask_rows(track_id, self.size)

    def frame_masks(self, frame: int) -> Masks:
        """All track masks of one frame; `ids` are track ids."""
        return self.store.frame_track_masks(frame, self.size)

    def summary(self) -> dict:
        path = self.dir / "summary.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
