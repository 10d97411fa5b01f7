"""Static HTML viewer: `OUT/viewer/index.html` opens from file://, offline, with no build step.

Chromium refuses fetch() of local files, so everything the page loads is a `<script src>` or an
`<img src>`: `data/meta.js` (tracks, hierarchy, run info), `data/chunk_NNNNN.js` (the masks of
a few frames each) and `frames/NNNNN.jpg` (the video, downscaled to `max_side`). The page loads
chunks and frames on demand and forgets old ones, so a long video opens as fast as a short one.

Masks are the store's pycocotools compressed RLEs at the processing size, copied without decoding.
`tracks.json` holds the same masks resized to the input size by nearest neighbour; the page maps
an input pixel to the processing pixel with the same formula as OpenCV's INTER_NEAREST, so it
answers exactly as `tracks.json` does while its data stays (input / processing)^2 times smaller.
"""
from __future__ import annotations

import html
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import cv2

from ..engine.hierarchy import depths
from ..masks import rle_to_json
from ..run import Run
from ..video.base import FrameSource
from .folders import atomic_dir
from .render import open_frames


ASSETS = Path(__file__).parent / "viewer_assets"
CHUNK_BYTES = 3_000_000  # target size of one chunk file: a few seconds of video at most
MAX_CHUNK_FRAMES = 64


def safe_json(obj: object) -> str:
    """JSON that cannot end a <script> or an HTML comment, wherever it is pasted."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_viewer(run: Run, path: str | Path, *, max_side: int = 960, frames: FrameSource | None = None,
                 chunk_frames: int | None = None, jpeg_quality: int = 85) -> Path:
    """Write the viewer folder `path` (replacing an older one only once the new one is complete).

    `chunk_frames` (default: sized from a sample so a chunk is about CHUNK_BYTES) frames of masks
    go in one data file.
    """
    chunk_frames = chunk_frames or _chunk_frames(run)
    own_source = frames is None
    source = open_frames(run, max_side=max_side, frames=frames)
    with atomic_dir(path) as tmp:
        (tmp / "data").mkdir()
        (tmp / "frames").mkdir()
        try:
            spans, frame_size = _write_frames_and_chunks(run, source, tmp, chunk_frames, jpeg_quality)
        finally:
            if own_source:
                source.close()
        _write_meta(run, tmp, spans, frame_size, chunk_frames)
        for name in ("viewer.js", "viewer.css"):
            shutil.copyfile(ASSETS / name, tmp / name)
        title = html.escape(Path(run.source).name or str(run.source), quote=True)
        page = (ASSETS / "index.html").read_text(encoding="utf-8").replace("__TITLE__", title)
        (tmp / "index.html").write_text(page, encoding="utf-8")
    return Path(path) / "index.html"


def _write_frames_and_chunks(run: Run, source: FrameSource, out: Path, chunk_frames: int,
                             jpeg_quality: int) -> tuple[dict[int, list[list[int]]], tuple[int, int]]:
    """JPEG per frame, masks per chunk; returns each track's runs of consecutive frames."""
    spans: dict[int, list[list[int]]] = {}
    for start in range(0, run.num_frames, chunk_frames):
        chunk = []
        for t in range(start, min(start + chunk_frames, run.num_frames)):
            rgb = source.frame(t)
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            if not ok:
                raise RuntimeError(f"JPEG encoding of frame {t} failed")
            (out / "frames" / f"{t:05d}.jpg").write_bytes(jpg.tobytes())
            chunk.append(_frame_entries(run, t, spans))
        with open(out / "data" / f"chunk_{start // chunk_frames:05d}.js", "w", encoding="ascii") as f:
            f.write(f"everymask._chunk({start // chunk_frames},")
            json.dump(chunk, f, separators=(",", ":"))
            f.write(");\n")
    frame_size = source.size if run.num_frames else run.input_size
    return spans, (int(frame_size[0]), int(frame_size[1]))


def _chunk_frames(run: Run) -> int:
    """Frames per chunk so that a chunk holds about CHUNK_BYTES (RLE bytes of a few sampled frames)."""
    sample = sorted({0, run.num_frames // 3, 2 * run.num_frames // 3, max(run.num_frames - 1, 0)})
    per_frame = sum(len(r["counts"]) + 16 for t in sample for r in run.frame_masks(t).rles) / len(sample)
    return int(max(1, min(MAX_CHUNK_FRAMES, CHUNK_BYTES // max(per_frame, 1))))


def _frame_entries(run: Run, t: int, spans: dict[int, list[list[int]]]) -> list:
    """[[track_id, area, counts], ...] of frame t at the processing size, smallest first."""
    masks = run.frame_masks(t)
    entries = []
    for tid, rle, area in zip(masks.ids.tolist(), masks.rles, masks.areas.tolist()):
        entries.append([tid, int(area), rle_to_json(rle)["counts"]])
        runs = spans.setdefault(tid, [])
        if runs and runs[-1][1] == t - 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    entries.sort(key=lambda e: (e[1], e[0]))
    return entries


def _write_meta(run: Run, out: Path, spans: dict[int, list[list[int]]], frame_size: tuple[int, int],
                chunk_frames: int) -> None:
    tracks = run.tracks()
    depth = depths({t.track_id: t.parent for t in tracks})
    scale = (run.input_size[0] * run.input_size[1]) / max(run.size[0] * run.size[1], 1)
    summary = run.summary()
    meta = {
        "version": _version(),
        "title": Path(run.source).name or str(run.source),
        "source": str(run.source),
        "num_frames": run.num_frames, "fps": run.fps,
        "input_size": list(run.input_size), "mask_size": list(run.size), "frame_size": list(frame_size),
        "chunk_frames": chunk_frames, "num_chunks": -(-run.num_frames // chunk_frames),
        "max_depth": max(depth.values(), default=0),
        "tracks": [{"id": t.track_id, "first": t.first, "last": t.last, "n": t.num_frames,
                    "area": round(t.mean_area * scale, 1), "parent": t.parent, "depth": depth[t.track_id],
                    "score": round(t.score, 4), "spans": spans.get(t.track_id, [])} for t in tracks],
        "config": asdict(run.config),
        "summary": {k: summary[k] for k in ("status", "backend", "masks_per_frame", "seconds") if k in summary},
    }
    (out / "data" / "meta.js").write_text(f"window.everymaskMeta = {safe_json(meta)};\n", encoding="ascii")


def _version() -> str:
    from .._version import __version__
    return __version__
