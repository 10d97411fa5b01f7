"""`benchmarks/bench.py --smoke --json`: every figure it prints is the one its runs recorded.

Nothing about speed is asserted: a timed unit test on a shared machine only measures the load. The
runs are kept (`--keep`), so each figure is checked against the store, tracks.json and summary.json
it came from, and the derived figures against their definitions.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # several `everymask run` processes
STAGES = ("decode", "generate", "propagate", "associate", "store", "finalize", "export")


def _smoke(backend: str, keep: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--json",
                        "--backend", backend, "--keep", str(keep)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _check_common(out: dict, keep: Path) -> None:
    """The smoke clip is 12 frames of 48 x 64 played once, then twice (tests: bench.write_smoke_clip)."""
    assert (out["frames"], out["loops"], out["frames_looped"], out["size"]) == (12, 2, 24, [48, 64])
    assert out["dense_bytes_per_mask"] == 48 * 64 and out["smoke"] is True
    summary = json.loads((keep / "run" / "summary.json").read_text())
    tracks = json.loads((keep / "run" / "tracks.json").read_text())
    db = sqlite3.connect(keep / "run" / "everymask.sqlite")
    masks = db.execute("SELECT COUNT(*) FROM masks").fetchone()[0]
    track_masks = db.execute("SELECT COUNT(*) FROM track_masks").fetchone()[0]
    db.close()
    assert masks > 0 and out["store_masks"] == masks == summary["store_masks"]
    assert out["tracks"] == len(tracks) > 0
    assert out["masks_per_frame"] == round(track_masks / 12, 2)
    assert out["tracks_json_bytes"] == (keep / "run" / "tracks.json").stat().st_size
    file_bytes = (keep / "run" / "everymask.sqlite").stat().st_size
    assert out["store_bytes_per_mask"] == pytest.approx(file_bytes / masks, rel=0.05)
    assert out["store_compression"] == round(3072 / out["store_bytes_per_mask"], 1)
    assert out["rss_ratio_8x"] == round(out["peak_rss_mb_looped"] / out["peak_rss_mb"], 3)
    assert out["peak_rss_mb"] > 10
    assert set(out["stage_seconds"]) == set(STAGES) == set(out["stage_fraction"])
    for k in STAGES:
        assert out["stage_seconds"][k] == round(summary["stage_seconds"].get(k, 0.0), 3), k
        assert out["stage_fraction"][k] == pytest.approx(out["stage_seconds"][k] / out["seconds"], abs=2e-3), k
    assert out["seconds"] == pytest.approx(summary["session_seconds"] - summary["load_seconds"], abs=2e-3)
    assert out["frames_per_second"] == pytest.approx(12 / out["seconds"], rel=1e-3)
    assert out["machine"]["cpus"] == os.cpu_count()


def test_bench_smoke_classic(tmp_path) -> None:
    out = _smoke("classic", tmp_path)
    _check_common(out, tmp_path)
    assert out["backend"] == "classic" and out["encoder_passes_per_frame"] is None
    assert out["backend_stats"] == json.loads((tmp_path / "run" / "summary.json").read_text())["backend_stats"]
    assert out["backend_stats"]["generate_calls"] == 4  # key frames 0, 5, 10, 11


def test_bench_smoke_sam2(tmp_path) -> None:
    import sam_fixtures  # noqa: F401  - skips (or, with EVERYMASK_REQUIRE_TORCH=1, fails) without torch
    out = _smoke("sam2", tmp_path)
    _check_common(out, tmp_path)
    assert out["backend"] == "sam2"
    shared = json.loads((tmp_path / "run" / "summary.json").read_text())["backend_stats"]
    original = json.loads((tmp_path / "run_original" / "summary.json").read_text())["backend_stats"]
    # each frame once for propagation, and the 4 key frames (0, 5, 10, 11) once more for the
    # generator: SAM 2's image and video predictors resize frames differently
    assert out["encoder_passes_per_frame"] == shared["encoder_passes_per_frame"] == pytest.approx(16 / 12, abs=1e-3)
    assert out["encoder_passes_per_frame_original"] == original["encoder_passes_per_frame"] > 1.0
    assert out["encoder_pass_ratio"] == round(original["encoder_passes_per_frame"] / shared["encoder_passes_per_frame"], 3)
