"""Export formats: name -> writer(run, path, **options). Each writes atomically (temp file + rename)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..run import Run
from .coco import write_coco
from .filters import ExportFilter, apply_filter
from .npz import write_npz
from .overlay import write_overlay
from .png_layers import write_png_layers
from .viewer import write_viewer
from .ytvis import write_ytvis


# format name -> (writer, default output name inside the run directory)
FORMATS: dict[str, tuple[Callable[..., Path], str]] = {
    "ytvis": (write_ytvis, "tracks.json"),
    "viewer": (write_viewer, "viewer"),
    "overlay": (write_overlay, "overlay.mp4"),
    "png": (write_png_layers, "png"),
    "coco": (write_coco, "coco.json"),
    "masks-npz": (write_npz, "masks_npz"),
}

# the formats that name the video (YouTube-VIS / COCO video ids)
WITH_VIDEO_ID = ("ytvis", "coco")


def export(run: Run, fmt: str, path: str | Path | None = None, *, filters: ExportFilter | None = None,
           **options: Any) -> Path:
    """Write `run` as `fmt`; `options` are the writer's keyword arguments (e.g. max_side for the viewer,
    video_id for ytvis and coco); `filters` (top-k per frame, wholes only, min length) apply to every format."""
    from ..errors import EverymaskError
    if fmt not in FORMATS:
        raise EverymaskError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writer, default = FORMATS[fmt]
    return writer(apply_filter(run, filters or ExportFilter()), Path(path) if path else run.dir / default, **options)
