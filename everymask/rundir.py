"""The run directory: what is ours in it, when we may write there, and whether a store may resume."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .config import RunConfig
from .errors import EverymaskError
from .store import STORE_NAME, RunStore
from .store.sqlite_store import SCHEMA_VERSION

# everything a run writes into its directory; --fresh removes these and nothing else
OUTPUT_NAMES = (STORE_NAME, STORE_NAME + "-wal", STORE_NAME + "-shm", "tracks.json", "ytvis_videos.json",
                "summary.json", "viewer", "overlay.mp4", "png", "coco.json", "frames", "masks_npz", "report.html")


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def prepare_run_dir(out_dir: Path, fresh: bool) -> None:
    """Create `out_dir` or check it is ours and writable; with `fresh`, clear our outputs first."""
    if out_dir.exists() and not out_dir.is_dir():
        raise EverymaskError(f"output path {out_dir} is a file, not a directory; choose a new directory with -o")
    if out_dir.is_dir():
        entries = [p.name for p in out_dir.iterdir() if not p.name.startswith(".")]
        if entries and STORE_NAME not in entries:
            raise EverymaskError(f"output directory {out_dir} holds files that are not an everymask run "
                                 f"({', '.join(sorted(entries)[:3])}{', ...' if len(entries) > 3 else ''}); "
                                 "choose an empty or new directory with -o")
        if fresh:
            for name in OUTPUT_NAMES:
                p = out_dir / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
    else:
        try:
            out_dir.mkdir(parents=True)
        except OSError as e:
            raise EverymaskError(f"cannot create output directory {out_dir}: {e.strerror}") from None
    if not _writable(out_dir):
        raise EverymaskError(f"output directory {out_dir} is not writable; choose another with -o")
    for stale in out_dir.glob(".*.tmp-*"):  # half-written exports of a killed run
        if stale.is_file():
            stale.unlink()


def check_resume(store: RunStore, config: RunConfig, fingerprint: str, source_path: str) -> bool:
    """True when the store is new; raises if it belongs to another input, config or version."""
    state = store.state()
    if not state.started:
        return True
    store.check_integrity()
    if state.schema_version != SCHEMA_VERSION:
        raise EverymaskError(f"{store.path} was written by an incompatible everymask version "
                             f"(store schema {state.schema_version}, this version reads {SCHEMA_VERSION}); "
                             "rerun with --fresh to start over")
    if state.fingerprint != fingerprint:
        raise EverymaskError(f"{store.path.parent} holds a run of another input ({state.source}), "
                             f"not {source_path}; use another -o directory, or --fresh to overwrite it")
    stored = json.loads(state.config or "{}")
    ours = json.loads(config.to_json())
    diff = sorted(k for k in config.identity_keys() if stored.get(k) != ours.get(k))
    if diff:
        shown = ", ".join(f"{k}: {stored.get(k)!r} -> {ours.get(k)!r}" for k in diff[:4])
        raise EverymaskError(f"{store.path.parent} holds a run with another config ({shown}); "
                             "rerun with the same flags to resume, or add --fresh to start over")
    return False
