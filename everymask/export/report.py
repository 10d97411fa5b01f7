"""`everymask report OUT` -> `OUT/report.html`: plots of a run (matplotlib, PNGs embedded), one file.

The numbers behind the plots go into `summary.json` under "report" too, so scripts and the page
agree. Coverage is the fraction of the frame under at least one mask (union of the RLEs).
"""
from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path

from pycocotools import mask as mask_utils

from ..engine.hierarchy import depths
from ..masks import RLE
from ..run import Run
from .atomic import atomic_write


def union_area(rles: list[RLE]) -> int:
    """Pixels under at least one mask (merged 255 at a time: pycocotools overflows above that)."""
    merged = None
    for i in range(0, len(rles), 255):
        part = rles[i:i + 255] + ([merged] if merged is not None else [])
        merged = mask_utils.merge(part, intersect=False)
    return int(mask_utils.area(merged)) if merged is not None else 0


def report_numbers(run: Run) -> dict:
    """Per-frame and per-track figures shown by the report (all at the processing size)."""
    per_frame = run.store.masks_per_frame()
    pixels = run.size[0] * run.size[1]
    coverage = [round(union_area(run.frame_masks(t).rles) / pixels, 4) for t in range(run.num_frames)]
    tracks = run.tracks()
    depth = Counter(depths({t.track_id: t.parent for t in tracks}).values())
    lengths = Counter(t.num_frames for t in tracks)
    return {"masks_per_frame": [per_frame.get(t, 0) for t in range(run.num_frames)],
            "coverage": coverage,
            "track_lengths": {str(k): v for k, v in sorted(lengths.items())},
            "hierarchy_depths": {str(k): v for k, v in sorted(depth.items())},
            "stage_seconds": run.summary().get("stage_seconds", {})}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(numbers: dict, fps: float) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def figure():
        fig = Figure(figsize=(6.4, 3.0))
        ax = fig.add_subplot()
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts; coverage sets its own limits
        return fig, ax

    out = []
    n = len(numbers["masks_per_frame"])
    fig, ax = figure()
    ax.plot(range(n), numbers["masks_per_frame"], lw=1)
    ax.set(xlabel="frame", ylabel="masks", title="Masks per frame")
    out.append(("Masks per frame", _png(fig)))
    fig, ax = figure()
    lengths = [int(k) for k, v in numbers["track_lengths"].items() for _ in range(v)]
    ax.hist(lengths, bins=min(40, max(len(set(lengths)), 1)))
    ax.set(xlabel=f"track length (frames; {fps:.1f} per second)", ylabel="tracks", title="Track lengths")
    out.append(("Track lengths", _png(fig)))
    fig, ax = figure()
    ax.plot(range(n), [100 * c for c in numbers["coverage"]], lw=1)
    ax.set(xlabel="frame", ylabel="% of the frame", ylim=(0, 103), title="Coverage: frame under at least one mask")
    out.append(("Coverage", _png(fig)))
    fig, ax = figure()
    stages = numbers["stage_seconds"]
    ax.barh(list(stages), list(stages.values()))
    ax.set(xlabel="seconds", title="Time per stage")
    out.append(("Time per stage", _png(fig)))
    fig, ax = figure()
    ax.bar(list(numbers["hierarchy_depths"]), list(numbers["hierarchy_depths"].values()))
    ax.set(xlabel="depth (0 = whole, 1 = part of a whole, ...)", ylabel="tracks", title="Part-of hierarchy depth")
    out.append(("Hierarchy depth", _png(fig)))
    return out


def write_report(run: Run, path: str | Path | None = None) -> Path:
    """Write report.html (default inside the run) and add the numbers to summary.json."""
    path = Path(path) if path else run.dir / "report.html"
    numbers = report_numbers(run)
    summary = run.summary()
    if summary:
        with atomic_write(run.dir / "summary.json") as f:
            json.dump({**summary, "report": numbers}, f, indent=1)
    esc = html.escape
    facts = [("source", run.source), ("frames", f"{run.num_frames} at {run.fps:.2f} fps"),
             ("size", f"{run.input_size[1]}x{run.input_size[0]} (processed at {run.size[1]}x{run.size[0]})"),
             ("tracks", str(len(run.tracks()))), ("status", str(summary.get("status", "?"))),
             ("backend", run.config.backend), ("seconds", str(summary.get("seconds", "?")))]
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    figs = "".join(f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{png}"></figure>'
                   for title, png in _plots(numbers, run.fps))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>everymask report: '
            f'{esc(Path(run.source).name)}</title><style>body{{font:14px system-ui,sans-serif;margin:20px;}}'
            f'th{{text-align:left;padding-right:1em}}figure{{display:inline-block;margin:8px}}</style></head>'
            f'<body><h1>everymask report</h1><table>{rows}</table>{figs}</body></html>\n')
    with atomic_write(path) as f:
        f.write(page)
    return path
