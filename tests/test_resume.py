"""A run interrupted between any two units resumes to the same result; a mismatched resume is refused."""
import sqlite3

import pytest

import everymask
from everymask.testing.replay import ReplayBackend
from everymask.config import RunConfig, RuntimeOptions
from everymask.errors import EverymaskError

from replay_scenes import BlankSource, box

SIZE = (40, 60)
T = 23
CONFIG = RunConfig(backend="replay", step=5, min_area=0.0, vanish_area=0.0)
OPTS = RuntimeOptions(progress=False)
TRUTH = {1: {t: box(SIZE, 2, 2 + t, 10, 10) for t in range(T)},
         2: {t: box(SIZE, 25, 5, 8, 8) for t in range(7, 16)},
         3: {t: box(SIZE, 4, 4 + t, 4, 4) for t in range(T)}}


class Crash(Exception):
    pass


class CrashingReplay(ReplayBackend):
    """Raises after `n` backend calls, like a process killed in the middle of a unit."""

    def __init__(self, n, **kw):
        super().__init__(TRUTH, SIZE, missed={(2, 10)}, **kw)
        self.left = n

    def _tick(self):
        self.left -= 1
        if self.left < 0:
            raise Crash()

    def generate(self, frame_index, image, prior=None):
        self._tick()
        return super().generate(frame_index, image, prior)

    def propagate(self, source, start, stop, seeds):
        self._tick()
        yield from super().propagate(source, start, stop, seeds)


def run(tmp_path, name, backend, config=CONFIG, **kw):
    return everymask.segment_video(BlankSource(T, SIZE), tmp_path / name, config, options=OPTS,
                                   backend=backend.backend(), **kw)


@pytest.mark.slow  # a crash at each of 20 points, each resumed
def test_resume_after_crash_at_every_unit_gives_identical_tracks(tmp_path):
    reference = run(tmp_path, "ref", ReplayBackend(TRUTH, SIZE, missed={(2, 10)}))
    expected = (reference.dir / "tracks.json").read_bytes()
    calls = 20  # more than the number of backend calls of this run
    for n in range(calls):
        out = f"crash{n}"
        try:
            run(tmp_path, out, CrashingReplay(n))
        except Crash:
            pass
        resumed = run(tmp_path, out, ReplayBackend(TRUTH, SIZE, missed={(2, 10)}))
        assert (resumed.dir / "tracks.json").read_bytes() == expected, n


def test_resume_does_not_redo_finished_units(tmp_path):
    try:
        run(tmp_path, "out", CrashingReplay(6))
    except Crash:
        pass
    again = ReplayBackend(TRUTH, SIZE, missed={(2, 10)})
    run(tmp_path, "out", again)
    full = ReplayBackend(TRUTH, SIZE, missed={(2, 10)})
    run(tmp_path, "full", full)
    assert len(again.generated_frames) + len(again.propagations) == \
        len(full.generated_frames) + len(full.propagations) - 6


def test_resume_with_other_config_is_refused_and_changes_nothing(tmp_path):
    run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))
    before = (tmp_path / "out" / "tracks.json").read_bytes()
    with pytest.raises(EverymaskError, match=r"another config \(step: 5 -> 3\).*--fresh"):
        run(tmp_path, "out", ReplayBackend(TRUTH, SIZE), config=CONFIG.replace(step=3))
    assert (tmp_path / "out" / "tracks.json").read_bytes() == before
    fresh = run(tmp_path, "out", ReplayBackend(TRUTH, SIZE), config=CONFIG.replace(step=3), fresh=True)
    assert fresh.config.step == 3


def test_resume_may_move_the_checkpoint_and_change_the_schedule_but_not_the_step(tmp_path):
    """Where the weights live and how frames are scheduled onto the encoder cannot change results."""
    before = CONFIG.replace(checkpoint="/old/place/sam2.safetensors")
    try:
        run(tmp_path, "out", CrashingReplay(5), config=before)
    except Crash:
        pass
    after = CONFIG.replace(checkpoint="/new/place/sam2.safetensors", schedule="original")
    with pytest.raises(EverymaskError, match=r"another config \(step: 5 -> 4\)"):
        run(tmp_path, "out", ReplayBackend(TRUTH, SIZE), config=after.replace(step=4))
    resumed = run(tmp_path, "out", ReplayBackend(TRUTH, SIZE, missed={(2, 10)}), config=after)
    reference = run(tmp_path, "ref", ReplayBackend(TRUTH, SIZE, missed={(2, 10)}), config=before)
    assert (resumed.dir / "tracks.json").read_bytes() == (reference.dir / "tracks.json").read_bytes()
    assert resumed.config == after  # the store records what this session used
    assert resumed.summary()["status"] == "complete"


def test_resume_with_other_input_is_refused(tmp_path):
    run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))
    other = BlankSource(T, SIZE, name="other.mp4")
    with pytest.raises(EverymaskError, match=r"run of another input \(blank\), not other.mp4"):
        everymask.segment_video(other, tmp_path / "out", CONFIG, options=OPTS,
                                backend=ReplayBackend(TRUTH, SIZE).backend())


def test_output_directory_with_foreign_files_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    with pytest.raises(EverymaskError, match="holds files that are not an everymask run"):
        run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_store_from_incompatible_version_is_refused(tmp_path):
    run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))
    db = sqlite3.connect(tmp_path / "out" / "everymask.sqlite")
    with db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(EverymaskError, match="incompatible everymask version"):
        run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))


def test_corrupt_store_is_refused(tmp_path):
    run(tmp_path, "out", ReplayBackend(TRUTH, SIZE)).close()
    path = tmp_path / "out" / "everymask.sqlite"
    assert not (tmp_path / "out" / "everymask.sqlite-wal").exists()  # checkpointed on close
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))
    with pytest.raises(EverymaskError, match="rerun with --fresh"):
        run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))


def test_time_budget_stops_early_and_a_later_run_completes(tmp_path):
    partial = everymask.segment_video(BlankSource(T, SIZE), tmp_path / "out", CONFIG,
                                      options=RuntimeOptions(progress=False, time_budget_s=1e-9),
                                      backend=ReplayBackend(TRUTH, SIZE).backend())
    assert partial.summary()["status"] == "partial"
    done = run(tmp_path, "out", ReplayBackend(TRUTH, SIZE))
    ref = run(tmp_path, "ref", ReplayBackend(TRUTH, SIZE))
    assert done.summary()["status"] == "complete"
    assert (done.dir / "tracks.json").read_bytes() == (ref.dir / "tracks.json").read_bytes()
