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
    (["--part-max-ratio", "1.0"], "--part-max-ratio 1.0 is invalid: must be a fraction in [0, 1): at 1 two equal "
                                  "tracks are each other's part"),
    (["--backend", "replay"], "unknown backend 'replay': choose one of classic, sam2, sam"),
    (["--backend", "sam", "--use-m2m"], "--use-m2m True is invalid: it is SAM 2's generator option; SAM's generator "
                                        "(--backend sam) has none"),
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


def _readme_options() -> dict[str, tuple[str, str]]:
    """The README's options table: flag -> (default, meaning)."""
    from pathlib import Path
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| flag | default | meaning |"):].split("\n\n")[0].splitlines()[2:]
    rows = {}
    for line in table:
        flag, default, meaning = (c.strip() for c in line.strip("|").split(" | "))
        assert flag not in rows, f"README options table lists {flag} twice"
        rows[flag.strip("`")] = (default, meaning)
    return rows


def test_readme_options_table_matches_the_knobs():
    """Each knob's flag, default and meaning live in config.py; the README's table must say the same."""
    from everymask.cli import build_parser
    from everymask.config import RuntimeOptions, knobs
    rows = _readme_options()
    for k in knobs(RunConfig) + knobs(RuntimeOptions):
        if k.flag is None:
            continue
        want = f"| `{k.flag}` | {k.shown_default} | {k.help} |"
        assert k.flag in rows, f"README options table lacks the row: {want}"
        assert rows[k.flag] == (k.shown_default, k.help), f"README options table row should read: {want}"
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    helps = {o: a.help for a in run._actions for o in a.option_strings}
    for flag, (_, meaning) in rows.items():  # rows for flags that are not knobs say what --help says
        assert flag in helps, f"README options table lists {flag}, which `everymask run` does not take"
        assert meaning == helps[flag] or helps[flag] == f"{meaning} (default {rows[flag][0]})", flag


def test_cli_flags_and_help_come_from_the_knobs(capsys):
    from everymask.cli import _config_from_args, build_parser
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--part-max-ratio PART_MAX_RATIO part-of: a part's mean area at most this fraction of the whole's (below 1, " \
           "so two equal tracks are never each other's part) (default 0.8)" in shown
    assert "--copy-iou COPY_IOU two tracks whose masks on one frame overlap" in shown
    assert "--time-budget TIME_BUDGET_S" in shown
    args = build_parser().parse_args(["run", "v.mp4", "--copy-iou", "0.95", "--time-budget", "2m", "--executor", "windows"])
    assert _config_from_args(args) == RunConfig(copy_iou=0.95)
    assert (args.time_budget_s, args.executor, args.window_keys, args.device) == (120.0, "windows", 20, "auto")


def test_replay_backend_is_for_tests_only():
    """RunConfig takes it (with a Backend object passed to segment_video); the CLI neither offers nor loads it."""
    from everymask.backends import load_backend
    from everymask.cli import build_parser
    config = RunConfig(backend="replay")
    with pytest.raises(EverymaskError, match=r"^backend 'replay' cannot be loaded by name \(a test backend needs its "
                                             r"Backend object passed in\); choose one of classic, sam2, sam$"):
        load_backend(config)
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    assert "replay" not in run.format_help()
