"""`RunState`: what a run records about itself besides its masks and tracks, as one typed record.

It lives in the store's `meta` table (one row per field, JSON values), written by the API when a
run starts, by the executors and finalize as the run goes, and read by `Run`, the resume check,
the summary and the CLI. One record with named, typed fields replaces keys spelled out in each
of those places; `needs_finalize` is the one place that decides whether the tracks must be
(re)computed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class RunState:
    """One run's record. Fields set when the run starts come first; the rest change as it goes."""

    schema_version: int = 0
    config: str = ""                        # RunConfig.to_json()
    fingerprint: str = ""                   # the input's (FrameSource.fingerprint)
    source: str = ""                        # the input's path as given
    num_frames: int = 0
    size: tuple[int, int] = (0, 0)          # processing size (H, W)
    input_size: tuple[int, int] = (0, 0)
    fps: float = 30.0
    created: float = 0.0
    execution: str = "units"                # "units" (one process) or "windows:K:H" (executors)
    # as the run goes
    status: str | None = None               # None until finalized once; then "complete" or "partial"
    finalized_at: int | None = None         # units (or windows) done when the tracks were last computed
    timings: dict[str, float] = field(default_factory=dict)     # seconds per stage, over all sessions
    backend_stats: dict[str, Any] = field(default_factory=dict)
    worker_stage_seconds: dict[str, float] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)
    coverage: list[float] = field(default_factory=list)         # per frame, of the final tracks
    identity: dict[str, int] = field(default_factory=dict)      # finalize's copy / re-identification counts

    @property
    def started(self) -> bool:
        return bool(self.config)

    def needs_finalize(self, done: int, ran_now: bool) -> bool:
        """Tracks must be computed when work ran in this session, when the work done differs from
        what the last finalize saw (a crash between the two), or when it never ran."""
        return ran_now or self.status is None or self.finalized_at != done

    # the meta table ------------------------------------------------------------------------
    def to_rows(self, names: list[str] | None = None) -> dict[str, str]:
        return {f.name: json.dumps(getattr(self, f.name)) for f in fields(self) if names is None or f.name in names}

    @classmethod
    def from_rows(cls, rows: dict[str, str]) -> "RunState":
        """From the meta table's rows; unknown keys are ignored, missing ones keep their defaults."""
        state = cls()
        for f in fields(cls):
            if f.name in rows:
                value = json.loads(rows[f.name])
                if f.name in ("size", "input_size"):
                    value = tuple(value)
                setattr(state, f.name, value)
        return state
