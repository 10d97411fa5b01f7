"""Flags and config files out of range get one line naming the problem, exit code 2."""
import pytest

from everymask.cli import main
from everymask.config import RunConfig
from everymask.errors import EverymaskError


@pytest.mark.parametrize("flags, message", [
    (["--step", "0"], "--step 0 is invalid: must be an integer >= 1"),
    (["--step", "-3"], "--step -3 is invalid"),
    (["--match-iou", "1.5"], "--match-iou 1.5 is invalid: must be between 0 and 1"),
    (["--vanish-area", "-0.1"], "--vanish-area -0.1 is invalid: must be a fraction of the frame area in [0, 1)"),
    (["--max-masks", "0"], "--max-masks 0 is invalid"),
    (["--backend", "yolo"], "unknown backend 'yolo': choose one of classic, sam2, sam"),
    (["--points-per-side", "0"], "--points-per-side 0 is invalid"),
    (["--schedule", "fast"], "--schedule 'fast' is invalid: must be 'shared' or 'original'"),
    (["--max-side", "-1"], "--max-side -1 is invalid"),
    (["--feature-cache-mb", "-5"], "--feature-cache-mb -5 is invalid"),
])
def test_bad_flag_values(tmp_path, capsys, flags, message):
    code = main(["run", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "out"), "--quiet", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [["--step", "five"], ["--time-budget", "soon"], ["--device", "tpu"]])
def test_unparsable_flags_exit_2(tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as e:
        main(["run", str(tmp_path / "x.mp4"), *flags])
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("toml, message", [
    ("stepp = 3\n", "unknown key 'stepp'"),
    ("step = 'five'\n", "key 'step' must be int, got str 'five'"),
    ("match_iou = true\n", "key 'match_iou' must be float, got bool"),
    ("step = [\n", "is not valid TOML"),
    ("step = 0\n", "--step 0 is invalid"),
])
def test_bad_config_files(tmp_path, capsys, toml, message):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(toml)
    code = main(["run", str(tmp_path / "x.mp4"), "--config", str(cfg), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_config_file_and_flags_combine(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text("step = 3\nmatch_iou = 0.7\nmax_masks = 50\n")
    from everymask.cli import _config_from_args, build_parser
    args = build_parser().parse_args(["run", "v.mp4", "--config", str(cfg), "--max-masks", "20", "--quality", "high"])
    assert _config_from_args(args) == RunConfig(step=3, match_iou=0.7, max_masks=20, points_per_side=64)


def test_config_file_missing(tmp_path, capsys):
    assert main(["run", "v.mp4", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_runconfig_json_round_trip():
    c = RunConfig(step=7, backend="sam2", model="tiny")
    import json
    assert RunConfig.from_mapping(json.loads(c.to_json())) == c
    with pytest.raises(EverymaskError):
        RunConfig(step=0)
