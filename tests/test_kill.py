"""Kill `everymask run` (SIGKILL at seeded random moments and inside a commit, finalize and export;
SIGINT), rerun the same command, and get a byte-identical tracks.json."""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clips import make_video

pytestmark = pytest.mark.slow  # each test runs and kills `everymask run` processes

RUN_FLAGS = ["--quiet", "--step", "4", "--max-masks", "24"]


def units_done(out: Path) -> int:
    store = out / "everymask.sqlite"
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1)
        try:
            return db.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def cmd(video, out, *extra):
    return [sys.executable, "-m", "everymask.cli", "run", str(video), "-o", str(out), *RUN_FLAGS, *extra]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("kill")
    video = make_video(d / "clip.mp4")
    ref = d / "ref"
    t0 = time.perf_counter()
    subprocess.run(cmd(video, ref), check=True)
    return video, (ref / "tracks.json").read_bytes(), time.perf_counter() - t0


@pytest.mark.parametrize("point", ["commit:1", "commit:4", "commit:9", "finalize:1", "export:1"])
def test_sigkill_inside_commit_finalize_export_then_resume(clip, tmp_path, point):
    video, reference, _ = clip
    out = tmp_path / "out"
    proc = subprocess.run(cmd(video, out), env={**os.environ, "EVERYMASK_CRASH_AT": point})
    assert proc.returncode == -signal.SIGKILL
    subprocess.run(cmd(video, out), check=True)
    assert (out / "tracks.json").read_bytes() == reference
    assert not list(out.glob(".*.tmp-*"))


def test_sigkill_at_random_moments_then_resume(clip, tmp_path):
    video, reference, seconds = clip
    rng = random.Random(1234)
    for n in range(4):
        out = tmp_path / f"out{n}"
        proc = subprocess.Popen(cmd(video, out))
        try:
            proc.wait(timeout=rng.uniform(0.2, 1.0) * seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(cmd(video, out), check=True)
        assert (out / "tracks.json").read_bytes() == reference, n


def test_sigint_stops_cleanly_and_says_how_to_resume(clip, tmp_path):
    video, reference, seconds = clip
    out = tmp_path / "out"
    proc = subprocess.Popen(cmd(video, out), stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "EVERYMASK_PAUSE_AT": "commit:3"})
    assert proc.stderr.readline() == "everymask: paused at commit:3\n"  # inside the 3rd unit's transaction
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    stopped_in = time.perf_counter() - t0
    assert proc.returncode == 130
    assert "interrupted; finished work is kept: rerun the same command to resume" in err
    assert "Traceback" not in err
    assert stopped_in < 1.5
    assert units_done(out) == 2  # the interrupted unit was rolled back whole
    subprocess.run(cmd(video, out), check=True)
    assert (out / "tracks.json").read_bytes() == reference
