"""The CLI end to end on a real (small) video file, and its answers to bad input."""
import json
import os
import stat

import numpy as np
import pytest

from everymask.cli import main
from everymask.masks import decode_one, rle_from_json

from clips import make_video

FLAGS = ["--quiet", "--step", "4", "--max-masks", "24"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("cli") / "clip.mp4")


@pytest.fixture(scope="module")
def done_run(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(clip), "-o", str(out), "--export", "ytvis,viewer", *FLAGS]) == 0
    return out


def test_run_writes_tracks_store_summary_viewer(done_run, clip):
    assert {p.name for p in done_run.iterdir()} >= {"everymask.sqlite", "tracks.json", "summary.json", "viewer"}
    tracks = json.loads((done_run / "tracks.json").read_text())
    summary = json.loads((done_run / "summary.json").read_text())
    assert summary["num_frames"] == 17 and summary["input_size"] == [72, 96]
    assert summary["tracks"] == len(tracks) > 0 and summary["status"] == "complete"
    assert [t["track_id"] for t in tracks] == list(range(1, len(tracks) + 1))
    for t in tracks:
        assert len(t["segmentations"]) == 17 and t["category_id"] == 1
        first = next(i for i, s in enumerate(t["segmentations"]) if s)
        assert decode_one(rle_from_json(t["segmentations"][first])).sum() == t["areas"][first]
    firsts = [next(i for i, s in enumerate(t["segmentations"]) if s) for t in tracks]
    assert firsts == sorted(firsts)  # ids in order of first appearance
    assert (done_run / "viewer" / "index.html").exists()


def test_run_prints_where_results_are(clip, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", str(clip), "-o", str(out), *FLAGS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("(complete)") and "tracks" in lines[0]
    assert lines[1] == f"results: {out / 'tracks.json'}"


def test_info_and_export(done_run, tmp_path, capsys):
    assert main(["info", str(done_run)]) == 0
    out = capsys.readouterr().out
    n = len(json.loads((done_run / "tracks.json").read_text()))
    assert f"tracks     {n} " in out and "17 frames, 96x72" in out and "config     backend=classic step=4" in out
    assert main(["export", str(done_run), "--format", "ytvis", "-o", str(tmp_path / "t.json")]) == 0
    assert (tmp_path / "t.json").read_bytes() == (done_run / "tracks.json").read_bytes()


def test_rerun_of_a_finished_run_changes_nothing(clip, done_run, capsys):
    before = (done_run / "tracks.json").read_bytes()
    assert main(["run", str(clip), "-o", str(done_run), "--export", "ytvis,viewer", *FLAGS]) == 0
    assert (done_run / "tracks.json").read_bytes() == before


def _text_mp4(d):
    p = d / "notes.mp4"
    p.write_text("not a video")
    return p


def _empty(d):
    p = d / "empty.mp4"
    p.write_bytes(b"")
    return p


def _empty_dir(d):
    p = d / "frames"
    p.mkdir()
    return p


def _odd_sizes(d):
    import cv2
    p = d / "frames"
    p.mkdir()
    cv2.imwrite(str(p / "0.png"), np.zeros((12, 16, 3), np.uint8))
    cv2.imwrite(str(p / "1.png"), np.zeros((10, 16, 3), np.uint8))
    return p


@pytest.mark.parametrize("make_input, message", [
    (lambda d: d / "missing.mp4", "input not found"),
    (_empty, "is empty (0 bytes)"),
    (_text_mp4, "is not a video PyAV can read"),
    (_empty_dir, "no images"),
    (_odd_sizes, "all frames in a folder must have the same size"),
])
def test_bad_inputs_one_line_exit_2(tmp_path, capsys, make_input, message):
    video = make_input(tmp_path)
    code = main(["run", str(video), "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.startswith("everymask: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_foreign_output_directory_is_left_untouched(clip, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "paper.txt").write_text("keep me")
    assert main(["run", str(clip), "-o", str(out), *FLAGS]) == 2
    assert "holds files that are not an everymask run" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["paper.txt"]


def test_unwritable_output_directory(clip, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:  # root may write anyway: make the permission check answer as for a user
        import everymask.rundir
        monkeypatch.setattr(everymask.rundir, "_writable", lambda path: False)
    assert main(["run", str(clip), "-o", str(out), *FLAGS]) == 2
    assert f"output directory {out} is not writable" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_output_path_under_a_file(clip, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["run", str(clip), "-o", str(tmp_path / "f" / "out"), *FLAGS]) == 2
    assert "cannot create output directory" in capsys.readouterr().err


def test_disk_full_keeps_finished_units_and_says_how_to_go_on(clip, tmp_path, capsys, monkeypatch):
    import sqlite3

    from everymask.store import RunStore
    real = RunStore.commit_unit
    calls = []

    def commit(self, *a, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **kw)

    monkeypatch.setattr(RunStore, "commit_unit", commit)
    out = tmp_path / "out"
    assert main(["run", str(clip), "-o", str(out), *FLAGS]) == 2
    err = capsys.readouterr().err
    assert err == ("everymask: error: the disk is full; free some space and rerun the same command to resume "
                   "(finished work is kept)\n")
    db = sqlite3.connect(out / "everymask.sqlite")
    assert db.execute("SELECT COUNT(*) FROM units").fetchone()[0] == 3
    db.close()
    monkeypatch.setattr(RunStore, "commit_unit", real)
    assert main(["run", str(clip), "-o", str(out), *FLAGS]) == 0


def test_other_flags_on_an_existing_run_are_refused_and_keep_results(clip, done_run, capsys):
    before = (done_run / "tracks.json").read_bytes()
    assert main(["run", str(clip), "-o", str(done_run), "--quiet", "--step", "3", "--max-masks", "24"]) == 2
    assert "another config (step: 4 -> 3)" in capsys.readouterr().err
    assert (done_run / "tracks.json").read_bytes() == before


def test_info_on_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    assert "holds no everymask run" in capsys.readouterr().err


def test_unknown_export_format(done_run, capsys):
    assert main(["export", str(done_run), "--format", "gif"]) == 2
    assert "unknown export format 'gif'" in capsys.readouterr().err


def test_path_with_spaces_and_non_ascii(clip, tmp_path):
    d = tmp_path / "my clips é 猫"
    d.mkdir()
    video = d / "vidéo 1.mp4"
    video.write_bytes(clip.read_bytes())
    assert main(["run", str(video), "-o", str(d / "out put"), *FLAGS]) == 0
    assert json.loads((d / "out put" / "summary.json").read_text())["source"] == str(video)


def test_run_command_closes_the_run_it_gets(clip, tmp_path, monkeypatch):
    import sqlite3

    import everymask.api as api
    runs = []
    real = api.segment_video
    monkeypatch.setattr(api, "segment_video", lambda *a, **kw: runs.append(real(*a, **kw)) or runs[-1])
    assert main(["run", str(clip), "-o", str(tmp_path / "o"), "--export", "ytvis,coco", "--video-id", "5", *FLAGS]) == 0
    coco = json.loads((tmp_path / "o" / "coco.json").read_text())  # --video-id reaches every export
    assert coco["videos"][0]["id"] == 5 and {img["video_id"] for img in coco["images"]} == {5}
    assert {e["video_id"] for e in json.loads((tmp_path / "o" / "tracks.json").read_text())} == {5}
    assert len(list((tmp_path / "o" / "frames").glob("*.jpg"))) == len(coco["images"])
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        runs[0].tracks()
