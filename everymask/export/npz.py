"""`masks_npz/NNNNN.npz`: per-frame dense boolean stacks, for tools built around the original
method's per-frame arrays. Dense masks are large (one byte per pixel per mask before compression),
so the writer says how large first; one file per frame keeps memory to one frame.

Each file holds `masks` (N x H x W bool, input resolution), `track_ids` (int64), `parents`
(int64, -1 = none) and `areas` (int64): plain arrays, loadable with a plain `np.load` (no object arrays).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..masks import decode
from ..run import Run
from .folders import atomic_dir
from .render import resize_nearest


log = logging.getLogger("everymask")


def dense_bytes(run: Run) -> int:
    """Uncompressed size of all the stacks: masks x height x width bytes."""
    h, w = run.input_size
    return sum(run.store.masks_per_frame().values()) * h * w


def write_npz(run: Run, path: str | Path) -> Path:
    count = sum(run.store.masks_per_frame().values())
    size = dense_bytes(run)
    log.warning("masks-npz: %d masks as dense arrays are %s uncompressed (compressed on disk); "
                "tracks.json holds the same masks as RLE", count,
                f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB")
    parents = {t.track_id: -1 if t.parent is None else t.parent for t in run.tracks()}
    h, w = run.input_size
    with atomic_dir(path) as tmp:
        for t in range(run.num_frames):
            masks = run.frame_masks(t)
            dense = decode(masks.rles, masks.size)
            if dense.shape[1:] != (h, w):
                dense = np.stack([resize_nearest(m.view(np.uint8), (h, w)).view(bool) for m in dense]) \
                    if len(dense) else np.zeros((0, h, w), bool)
            np.savez_compressed(tmp / f"{t:05d}.npz", masks=dense, track_ids=masks.ids.astype(np.int64),
                                parents=np.array([parents[i] for i in masks.ids.tolist()], np.int64),
                                areas=dense.reshape(len(dense), -1).sum(1).astype(np.int64))
    return Path(path)
