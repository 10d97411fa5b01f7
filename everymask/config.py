"""`RunConfig` and `RuntimeOptions`: every knob of a run with its default and its help text.

The field definitions below are the one source of each knob's meaning: the CLI builds its flags and
help from them (`knobs()`), and tests/test_config.py checks that the README's options table says the
same (flag, default, meaning).

To add a knob:
1. add a field here with `knob(default, "meaning")`: to `RunConfig` when it can change a run's
   result (it is then saved in the store and a resume must match it; `identity=False` for one that
   cannot, such as where a file lives), to `RuntimeOptions` when it only changes how fast or where
   a run happens. `flag=None` keeps it off the command line;
   `choices=` lists the allowed values where argparse should check them.
2. check its range in `validate()` with a one-line message that names the flag;
3. add its row to the README's options table (the test prints the row it expects).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import EverymaskError

# the backends a user can choose; "replay" (everymask/testing/) is accepted only with its Backend object
# passed to segment_video, for the engine's tests, and is never offered or listed
BACKENDS = ("classic", "sam2", "sam")
TEST_BACKENDS = ("replay",)


def unknown_backend(name: str) -> EverymaskError:
    return EverymaskError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def knob(default: Any, help: str, *, flag: str | None = "", choices: tuple[str, ...] = (),
         identity: bool = True) -> Any:
    """A dataclass field carrying its help text. `flag`: "" derives `--name-with-dashes`, None: no flag.
    `identity=False`: a RunConfig knob that cannot change results, so a resume may change it."""
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices, "identity": identity})


@dataclass(frozen=True)
class Knob:
    """One knob as the CLI and the docs see it."""

    name: str
    default: Any
    help: str
    flag: str | None
    choices: tuple[str, ...]
    identity: bool

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def shown_default(self) -> str:
        """The default as the README and `--help` write it: off/on, 0.0005, 1, or nothing for ""."""
        v = self.default
        if isinstance(v, bool):
            return "on" if v else "off"
        if isinstance(v, float):
            return f"{v:g}"
        return str(v)


def knobs(cls: type) -> tuple[Knob, ...]:
    """The knobs of `RunConfig` or `RuntimeOptions`, in field order."""
    out = []
    for f in fields(cls):
        m = f.metadata
        flag = m["flag"] if m["flag"] != "" else "--" + f.name.replace("_", "-")
        out.append(Knob(f.name, f.default, m["help"], flag, m["choices"], m["identity"]))
    return tuple(out)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result. Saved in the store; a resume must match it.

    Knobs that only change how fast or where a run happens (device, cache sizes, progress) are
    not here: they may differ between a run and its resume.
    """

    backend: str = knob("classic", "classic (no weights, CPU), sam2 (SAM 2.1), or sam (SAM 1 key frames + "
                        "SAM 2 propagation)")
    step: int = knob(5, "frames between key frames")
    max_masks: int = knob(144, "largest masks kept per key frame")
    min_area: float = knob(0.0005, "generated masks under this fraction of the frame (or under vanish-area, "
                                        "if larger) are dropped")
    match_iou: float = knob(0.8, "IoU above which a propagated mask and a key-frame mask are one object")
    vanish_area: float = knob(0.0006, "a propagated mask under this fraction of the frame ends")
    carry_keys: int = knob(10, "an unmatched mask is carried at most this many key frames past the one it was "
                               "found on, bounding work and drift on long videos (0: until it vanishes, as the "
                               "original method)")
    second_iou: float = knob(0.5, "after the one-to-one matching at match-iou, mutual best pairs above this IoU "
                                  "are one object too")
    copy_iou: float = knob(0.9, "two tracks whose masks on one frame overlap above this IoU are one thing: their "
                                "ids merge, or the younger ends there")
    reid_seconds: float = knob(5.0, "a track that ended (left the frame, occluded) takes its id back when its "
                                    "object is found again within this many seconds (0: never)")
    max_side: int = knob(0, "downscale frames whose longer side exceeds this many pixels (0: input size)")
    # mask generator (names as in SAM's automatic mask generator)
    points_per_side: int = knob(32, "generator grid: points per side (64 with --quality high)")
    pred_iou_thresh: float = knob(0.8, "generator predicted-IoU filter (SAM 2's default; SAM's is 0.88)")
    stability_score_thresh: float = knob(0.95, "generator stability filter (the default of SAM 2's and SAM's "
                                               "generators alike)")
    box_nms_thresh: float = knob(0.7, "generator box NMS IoU")
    crop_n_layers: int = knob(0, "generator crop layers")
    min_mask_region_area: int = knob(0, "small-region clean-up: sam2 fills holes and removes islands of at most "
                                        "this many pixels in each mask's 256x256 low-res logits before the filters "
                                        "(as SAM 2), sam those under this many frame pixels after NMS (as SAM)")
    use_m2m: bool = knob(False, "sam2: refine each generated mask once by prompting with its point and its own "
                                "low-res logits (SAM 2's use_m2m)")
    # model (sam2 / sam backends)
    model: str = knob("", "model name (see `everymask models`): tiny, small, base-plus, large (default) for sam2; "
                          "vit-b, vit-l, vit-h (default) for sam, optionally +NAME for its SAM 2 propagator "
                          "(vit-h+tiny)")
    checkpoint: str = knob("", "a .safetensors file, hub-style folder or Meta's official .pt/.pth for sam2/sam; "
                               "for sam, A:B (A;B on Windows) gives the SAM and the SAM 2 checkpoints; may change "
                               "when resuming", identity=False)
    schedule: str = knob("shared", "shared (each frame encoded once, key frames twice) or original (per task, as "
                                   "the original method); may change when resuming", identity=False)
    things_first: bool = knob(False, "classic: the key frame's whole mask budget to closed regions (things) first; "
                              "by default half goes to them, half to the highest-contrast regions (walls, floors, sky)")
    # part-of hierarchy
    part_inside: float = knob(0.9, "part-of: fraction of a part's pixels inside its whole in a frame")
    part_frames: float = knob(0.8, "part-of: fraction of co-visible frames where that holds")
    part_max_ratio: float = knob(0.8, "part-of: a part's mean area at most this fraction of the whole's "
                                      "(below 1, so two equal tracks are never each other's part)")
    # budgets
    min_track_area: float = knob(0.0, "drop tracks whose area stays under this fraction of the frame all their life")
    coverage_target: float = knob(1.0, "per key frame, keep masks largest first only until they cover this "
                                       "fraction of the frame (1: keep all); e.g. 0.98 skips the long tail of "
                                       "small masks")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values that cannot work, naming the flag and the allowed range."""
        def bad(name: str, why: str) -> EverymaskError:
            flag = "--" + name.replace("_", "-")
            return EverymaskError(f"{flag} {getattr(self, name)!r} is invalid: {why}")

        if self.backend not in BACKENDS + TEST_BACKENDS:
            raise unknown_backend(self.backend)
        if not isinstance(self.step, int) or self.step < 1:
            raise bad("step", "must be an integer >= 1")
        if not isinstance(self.carry_keys, int) or self.carry_keys < 0:
            raise bad("carry_keys", "must be an integer >= 0 (0: carry unmatched masks without limit)")
        if not isinstance(self.max_masks, int) or not 1 <= self.max_masks <= 99999:
            raise bad("max_masks", "must be an integer between 1 and 99999")
        for name in ("min_area", "vanish_area", "min_track_area"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise bad(name, "must be a fraction of the frame area in [0, 1)")
        if not isinstance(self.coverage_target, (int, float)) or not 0.0 < self.coverage_target <= 1.0:
            raise bad("coverage_target", "must be a fraction in (0, 1]; 1 keeps every mask")
        if not isinstance(self.reid_seconds, (int, float)) or self.reid_seconds < 0:
            raise bad("reid_seconds", "must be a number of seconds >= 0 (0: no re-identification)")
        if not isinstance(self.copy_iou, (int, float)) or not 0.5 <= self.copy_iou <= 1.0:
            raise bad("copy_iou", "must be between 0.5 and 1 (two masks above it on one frame are one thing)")
        if isinstance(self.second_iou, (int, float)) and isinstance(self.match_iou, (int, float)) \
                and self.second_iou > self.match_iou:
            raise bad("second_iou", f"must be at most --match-iou ({self.match_iou}): it is the second, lower stage")
        for name in ("match_iou", "second_iou", "pred_iou_thresh", "stability_score_thresh", "box_nms_thresh",
                     "part_inside", "part_frames"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise bad(name, "must be between 0 and 1")
        if not isinstance(self.part_max_ratio, (int, float)) or not 0.0 <= self.part_max_ratio < 1.0:
            raise bad("part_max_ratio", "must be a fraction in [0, 1): at 1 two equal tracks are each other's part")
        if not isinstance(self.max_side, int) or self.max_side < 0:
            raise bad("max_side", "must be an integer >= 0 (0 keeps the input size)")
        if not isinstance(self.points_per_side, int) or not 1 <= self.points_per_side <= 256:
            raise bad("points_per_side", "must be an integer between 1 and 256")
        if not isinstance(self.crop_n_layers, int) or not 0 <= self.crop_n_layers <= 3:
            raise bad("crop_n_layers", "must be an integer between 0 and 3")
        if not isinstance(self.min_mask_region_area, int) or self.min_mask_region_area < 0:
            raise bad("min_mask_region_area", "must be an integer >= 0")
        if not isinstance(self.use_m2m, bool):
            raise bad("use_m2m", "must be true or false")
        if self.use_m2m and self.backend == "sam":
            raise bad("use_m2m", "it is SAM 2's generator option; SAM's generator (--backend sam) has none")
        if self.schedule not in ("shared", "original"):
            raise bad("schedule", "must be 'shared' or 'original'")

    @property
    def min_generated_area(self) -> float:
        """Fraction of the frame under which a key frame's generated mask is dropped: min_area, or
        vanish_area where larger, since such a mask ends on the first frame it is propagated to
        and would only make a track of one frame."""
        return max(self.min_area, self.vanish_area)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def identity_keys(cls) -> tuple[str, ...]:
        """The knobs a resume must keep: all but those marked `identity=False` (they cannot change results)."""
        return tuple(k.name for k in knobs(cls) if k.identity)

    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str = "config") -> "RunConfig":
        """Build from a dict (a TOML file, the store), naming any unknown key or wrong type."""
        known = {f.name: f for f in fields(cls)}
        for key, value in values.items():
            if key not in known:
                raise EverymaskError(f"{where}: unknown key {key!r}; known keys: {', '.join(known)}")
            want = type(getattr(cls(), key))
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise EverymaskError(f"{where}: key {key!r} must be {want.__name__}, got {type(value).__name__} {value!r}")
        values = {k: (float(v) if isinstance(getattr(cls(), k), float) else v) for k, v in values.items()}
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path) -> "RunConfig":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise EverymaskError(f"cannot read config file {path}: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise EverymaskError(f"config file {path} is not valid TOML: {e}") from None
        return cls.from_mapping(data, where=f"config file {path}")

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RuntimeOptions:
    """How and where a run executes; may change between a run and its resume without changing results
    (up to floating-point differences between devices)."""

    device: str = knob("auto", "where the model backends run: auto takes CUDA, then Apple MPS, then the CPU", choices=("auto", "cpu", "cuda", "mps"))
    feature_cache_mb: int = knob(2048, "bound on cached image-encoder features, in MB (sam2 / sam)")
    frame_cache: int = knob(32, "decoded frames kept in memory", flag=None)
    time_budget_s: float = knob(0.0, "stop starting new work after this long (e.g. 10m), export what exists; rerun "
                                     "to go on (0: no budget)", flag="--time-budget")
    progress: bool = knob(True, "show progress (--quiet turns it off)", flag=None)
    executor: str = knob("local", "local: the engine in this process; windows: windows of key frames one after "
                                  "another in this process; ray: those windows on Ray workers (the same tracks as "
                                  "windows)", choices=("local", "ray", "windows"))
    workers: int = knob(0, "ray: number of workers (0: one per GPU, else one per CPU)")
    ray_address: str = knob("", "ray: join this cluster (auto, or host:port); empty: start a local Ray")
    window_keys: int = knob(20, "ray/windows: key frames per window, adjacent windows share one; a resume must "
                                "use the same")
    video_id: int = knob(1, "the video id that tracks.json, coco.json and ytvis_videos.json carry (YouTube-VIS "
                            "ground truth numbers videos from 1); changes only the exports")
    halo_keys: int = knob(2, "key-frame intervals a window carries unmatched masks past its edge; a resume must "
                             "use the same", flag=None)
