"""Command line: parses options and calls the API; all behaviour lives in the library."""
from __future__ import annotations

import argparse
import errno
import json
import re
import sqlite3
import sys
from pathlib import Path

from ._version import __version__
from .config import BACKENDS, Knob, RunConfig, RuntimeOptions, knobs, unknown_backend
from .errors import EverymaskError

def _parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write e.g. 90s, 10m or 2h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _parse_formats(text: str) -> list[str]:
    from .export import FORMATS
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    return formats


# flags whose value argparse reads with something other than the default's type
PARSERS = {"time_budget_s": _parse_duration}


def _help(k: Knob) -> str:
    return f"{k.help} (default {k.shown_default})" if k.shown_default else k.help


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """RunConfig and RuntimeOptions knobs, flags and help from their fields (config.py)."""
    for k in knobs(RunConfig):  # default None: a flag not given leaves the --config file's value
        if k.kind is bool:
            p.add_argument(k.flag, dest=k.name, action=argparse.BooleanOptionalAction, default=None, help=_help(k))
        else:
            p.add_argument(k.flag, dest=k.name, type=k.kind, default=None, help=_help(k))
    for k in knobs(RuntimeOptions):
        if k.flag is not None:
            p.add_argument(k.flag, dest=k.name, type=PARSERS.get(k.name, k.kind), default=k.default,
                           choices=k.choices or None, help=_help(k))
    p.add_argument("--quality", choices=["normal", "high"], default=None,
                   help="high: 64 points per side for the generator")
    p.add_argument("--config", type=Path, help="TOML file with RunConfig keys (underscored names); flags given here win")
    p.add_argument("--fresh", action="store_true", help="discard a previous run in the output directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="everymask", description="Segment and track every mask of a video.")
    parser.add_argument("--version", action="version", version=f"everymask {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress output")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", parents=[common], help="segment and track a video (resumes an unfinished run)")
    p.add_argument("video", help="a video file or a folder of images")
    p.add_argument("-o", "--output", type=Path, help="run directory (default: runs/<video name>)")
    p.add_argument("--export", default="ytvis", type=_parse_formats,
                   help="comma-separated formats written when the run ends: ytvis (tracks.json), viewer, overlay, "
                        "png, coco, masks-npz (default ytvis)")
    _add_run_options(p)

    p = sub.add_parser("info", parents=[common], help="summarise a run directory")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")

    p = sub.add_parser("export", parents=[common], help="write a run in another format")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", default="ytvis",
                   help="ytvis (default: tracks.json), viewer (viewer/index.html), overlay (overlay.mp4), "
                        "png (png/layer_K/ 16-bit label maps), coco (coco.json), masks-npz (masks_npz/, large)")
    p.add_argument("-o", "--output", type=Path, help="output path (default: inside the run directory)")
    p.add_argument("--viewer-max-side", type=int, default=960,
                   help="viewer: downscale frames whose longer side exceeds this (default 960)")
    p.add_argument("--overlay-ids", action="store_true", help="overlay: write each track id on its mask")
    video_id = next(k for k in knobs(RuntimeOptions) if k.name == "video_id")
    p.add_argument(video_id.flag, dest="video_id", type=int, default=video_id.default, help=_help(video_id))
    p.add_argument("--frames", type=Path, help="coco: folder for the frames coco.json names (default: frames/ "
                                               "beside coco.json)")
    p.add_argument("--no-frames", action="store_true", help="coco: write coco.json alone (extract the frames "
                                                            "yourself: docs/exports.md gives the ffmpeg command)")
    p.add_argument("--top-k", type=int, default=0, help="keep the k best-scored masks of each frame (default 0: all)")
    p.add_argument("--wholes-only", action="store_true", help="keep only wholes (the roots of the part-of tree)")
    p.add_argument("--min-length", type=float, default=0.0,
                   help="keep only tracks present on at least this fraction of the frames (default 0)")

    p = sub.add_parser("report", parents=[common], help="write report.html with plots of a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("-o", "--output", type=Path, help="output path (default: RUN_DIR/report.html)")

    p = sub.add_parser("models", parents=[common], help="list known SAM / SAM 2 models and which are present")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("demo", parents=[common], help="run the classic backend on the bundled sample clip")
    p.add_argument("-o", "--output", type=Path, default=Path("runs/demo"))
    return parser


def _config_from_args(args: argparse.Namespace) -> RunConfig:
    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    changes = {k.name: getattr(args, k.name) for k in knobs(RunConfig) if getattr(args, k.name) is not None}
    if args.quality == "high" and "points_per_side" not in changes:
        changes["points_per_side"] = 64
    config = config.replace(**changes) if changes else config
    if config.backend not in BACKENDS:  # a test backend (replay) needs its Backend object: not for the CLI
        raise unknown_backend(config.backend)
    return config


def cmd_run(args: argparse.Namespace) -> int:
    from .api import segment_video
    from .progress import StageProgress
    config = _config_from_args(args)
    if args.feature_cache_mb < 0:
        raise EverymaskError(f"--feature-cache-mb {args.feature_cache_mb} is invalid: must be >= 0")
    if args.workers < 0:
        raise EverymaskError(f"--workers {args.workers} is invalid: must be >= 0 (0: one per GPU or CPU)")
    if args.window_keys < 2:
        raise EverymaskError(f"--window-keys {args.window_keys} is invalid: a window needs at least 2 key frames")
    from .export.ytvis import check_video_id
    check_video_id(args.video_id)
    options = RuntimeOptions(progress=not args.quiet,
                             **{k.name: getattr(args, k.name) for k in knobs(RuntimeOptions) if k.flag is not None})
    out = args.output or Path("runs") / Path(args.video).stem
    from .export import WITH_VIDEO_ID, export
    with segment_video(args.video, out, config, options=options, fresh=args.fresh,
                       progress=StageProgress(quiet=args.quiet)) as run:
        written = [run.dir / "tracks.json"] + [
            export(run, fmt, **({"video_id": args.video_id} if fmt in WITH_VIDEO_ID else {}))
            for fmt in args.export if fmt != "ytvis"]
        s = run.summary()
    print(f"{s['tracks']} tracks, {s['masks_per_frame']:.1f} masks/frame over {s['num_frames']} frames "
          f"in {s['seconds']:.1f}s ({s['status']})")
    for path in written:
        shown = path / "index.html" if path.is_dir() and (path / "index.html").exists() else path
        print(f"results: {shown}")
    print(f"store:   {run.dir / 'everymask.sqlite'}  (everymask info {run.dir})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .api import open_run
    with open_run(args.run_dir) as run:
        s = run.summary()
        tracks = run.tracks()
        if args.json:
            print(json.dumps({**s, "tracks_list": [t.__dict__ for t in tracks]}, indent=1))
            return 0
        lengths = sorted(t.num_frames for t in tracks)
        print(f"run        {run.dir}")
        print(f"source     {run.source} ({run.num_frames} frames, {run.input_size[1]}x{run.input_size[0]}, "
              f"{run.fps:.2f} fps; processed at {run.size[1]}x{run.size[0]})")
        print(f"status     {s.get('status', run.state.status or 'unfinished')}")
        print(f"tracks     {len(tracks)} (median length {lengths[len(lengths) // 2] if lengths else 0} frames)")
        if s:
            print(f"masks      {s['masks_per_frame']:.1f} per frame (max {s['max_masks_per_frame']})")
            print(f"hierarchy  depth histogram {s['hierarchy_depths']}")
            print(f"time       {s['seconds']:.1f}s, {s['frames_per_second']} frames/s; " + ", ".join(
                f"{k} {v:.1f}s" for k, v in s["stage_seconds"].items()))
            print(f"memory     peak RSS {s['peak_rss_mb']} MB; store {s['store_bytes_per_mask']} bytes/mask")
        print("config     " + " ".join(f"{k}={v}" for k, v in run.config.__dict__.items()))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .api import open_run
    from .export import export
    from .export.filters import ExportFilter
    from .export.ytvis import check_video_id
    options = {"viewer": {"max_side": args.viewer_max_side}, "overlay": {"ids": args.overlay_ids},
               "ytvis": {"video_id": check_video_id(args.video_id)},
               "coco": {"video_id": args.video_id, "frames": args.frames, "write_frames": not args.no_frames}}
    if args.viewer_max_side < 1:
        raise EverymaskError(f"--viewer-max-side {args.viewer_max_side} is invalid: must be >= 1")
    filters = ExportFilter(top_k=args.top_k, wholes_only=args.wholes_only, min_length=args.min_length)
    with open_run(args.run_dir) as run:
        path = export(run, args.format, args.output, filters=filters, **options.get(args.format, {}))
    print(f"wrote {path}")
    if args.format == "png":
        doc = json.loads((path / "layers.json").read_text())
        print(f"{doc['num_layers']} layers for {len(doc['tracks'])} tracks; lower bound {doc['lower_bound']} "
              "(the most masks on one pixel)")
    if args.format == "coco" and not args.no_frames:
        print(f"frames: {args.frames or path.parent / 'frames'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .api import open_run
    from .export.report import write_report
    with open_run(args.run_dir) as run:
        path = write_report(run, args.output)
    print(f"wrote {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    sample = Path(__file__).parent / "data" / "sample.mp4"
    if not sample.exists():
        raise EverymaskError(f"the sample clip {sample} is missing from this install; reinstall everymask")
    ns = build_parser().parse_args(["run", str(sample), "-o", str(args.output), "--backend", "classic",
                                    "--export", "ytvis,viewer"] + (["--quiet"] if args.quiet else []))
    return cmd_run(ns)


def cmd_models(args: argparse.Namespace) -> int:
    from .models_cli import format_models, list_models
    print(format_models(list_models(), as_json=args.json))
    return 0


COMMANDS = {"run": cmd_run, "info": cmd_info, "export": cmd_export, "report": cmd_report, "demo": cmd_demo,
            "models": cmd_models}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except EverymaskError as e:
        if args.debug:
            raise
        print(f"everymask: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\neverymask: interrupted; finished work is kept: rerun the same command to resume", file=sys.stderr)
        return 130
    except (OSError, sqlite3.OperationalError) as e:
        if getattr(e, "errno", None) == errno.ENOSPC or "disk is full" in str(e):
            print("everymask: error: the disk is full; free some space and rerun the same command to resume "
                  "(finished work is kept)", file=sys.stderr)
            return 2
        if args.debug:
            raise
        print(f"everymask: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1
    except Exception as e:  # a bug: say so, keep the store
        if args.debug:
            raise
        print(f"everymask: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback; "
              "please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
