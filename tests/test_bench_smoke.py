"""`benchmarks/bench.py --smoke --json` runs and reports every figure with a sane type.

Nothing about speed is asserted: a timed unit test on a shared machine only measures the load.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("decode", "generate", "propagate", "associate", "store", "finalize", "export")
NUMBERS = ("seconds", "process_seconds", "frames_per_second", "engine_overhead_fraction", "scheduling_seconds",
           "peak_rss_mb", "peak_rss_mb_looped", "rss_ratio_8x", "store_bytes_per_mask", "coverage_mean")
INTS = ("frames", "frames_looped", "tracks", "store_masks", "dense_bytes_per_mask", "tracks_json_bytes", "loops")


def _smoke(backend: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--smoke", "--json",
                        "--backend", backend], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def _check_common(out: dict) -> None:
    for k in NUMBERS:
        assert isinstance(out[k], (int, float)) and not isinstance(out[k], bool) and out[k] >= 0, k
    for k in INTS:
        assert isinstance(out[k], int) and out[k] >= 0, k
    assert out["frames_looped"] == out["loops"] * out["frames"]
    assert set(out["stage_seconds"]) == set(STAGES) == set(out["stage_fraction"])
    assert all(isinstance(v, float) and 0 <= v for v in out["stage_seconds"].values())
    assert 0 <= sum(out["stage_fraction"].values()) <= 1.01
    assert 0 <= out["engine_overhead_fraction"] <= 1
    assert out["peak_rss_mb"] > 10 and out["store_masks"] > 0 and out["tracks"] > 0
    assert out["dense_bytes_per_mask"] == out["size"][0] * out["size"][1]
    assert out["smoke"] is True and isinstance(out["machine"]["cpus"], int)


def test_bench_smoke_classic() -> None:
    out = _smoke("classic")
    _check_common(out)
    assert out["backend"] == "classic" and out["encoder_passes_per_frame"] is None


@pytest.mark.slow
def test_bench_smoke_sam2() -> None:
    pytest.importorskip("transformers")
    out = _smoke("sam2")
    _check_common(out)
    assert out["backend"] == "sam2"
    assert isinstance(out["encoder_passes_per_frame"], float) and out["encoder_passes_per_frame"] >= 1.0
    assert out["encoder_passes_per_frame_original"] > out["encoder_passes_per_frame"]
    assert out["encoder_pass_ratio"] > 1
