"""`RunConfig`: every knob of a run with its default, shared by the CLI, the API, the store and tests."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import EverymaskError

BACKENDS = ("classic", "sam2", "sam", "replay")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result. Saved in the store; a resume must match it.

    Knobs that only change how fast or where a run happens (device, cache sizes, progress) are
    not here: they may differ between a run and its resume.
    """

    backend: str = "classic"
    step: int = 5                      # frames between key frames
    max_masks: int = 144               # largest generated masks kept per key frame
    min_area: float = 0.0005           # generated masks under this fraction of the frame are dropped
    match_iou: float = 0.8             # propagated vs key-frame mask: same object above this IoU
    vanish_area: float = 0.0006        # a propagated mask under this fraction of the frame ends
    carry_keys: int = 10               # an unmatched mask is carried at most this many key frames (0: no limit)
    second_iou: float = 0.5            # what match_iou leaves: mutual best pairs above this are one object too
    copy_iou: float = 0.9              # two tracks whose masks on a frame overlap above this are one thing
    reid_seconds: float = 5.0          # an ended track can take its id back this long after (0: never)
    max_side: int = 0                  # downscale frames whose longer side exceeds this (0: never)
    # mask generator (names as in SAM's automatic mask generator)
    points_per_side: int = 32
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.9
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    min_mask_region_area: int = 0
    # model (sam2 / sam backends)
    model: str = ""
    checkpoint: str = ""
    schedule: str = "shared"           # "shared": each frame encoded once; "original": per task
    # part-of hierarchy
    part_inside: float = 0.9           # fraction of A's pixels inside B for A to be part of B in a frame
    part_frames: float = 0.8           # fraction of co-visible frames where that must hold
    part_max_ratio: float = 0.8        # A's mean area at most this fraction of B's
    # budgets
    min_track_area: float = 0.0        # drop tracks whose area stays under this fraction all their life
    coverage_target: float = 1.0       # per key frame, stop adding smaller masks once this fraction is covered

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values that cannot work, naming the flag and the allowed range."""
        def bad(name: str, why: str) -> EverymaskError:
            flag = "--" + name.replace("_", "-")
            return EverymaskError(f"{flag} {getattr(self, name)!r} is invalid: {why}")

        if self.backend not in BACKENDS:
            raise EverymaskError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS[:3])}")
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
                     "part_inside", "part_frames", "part_max_ratio"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise bad(name, "must be between 0 and 1")
        if not isinstance(self.max_side, int) or self.max_side < 0:
            raise bad("max_side", "must be an integer >= 0 (0 keeps the input size)")
        if not isinstance(self.points_per_side, int) or not 1 <= self.points_per_side <= 256:
            raise bad("points_per_side", "must be an integer between 1 and 256")
        if not isinstance(self.crop_n_layers, int) or not 0 <= self.crop_n_layers <= 3:
            raise bad("crop_n_layers", "must be an integer between 0 and 3")
        if not isinstance(self.min_mask_region_area, int) or self.min_mask_region_area < 0:
            raise bad("min_mask_region_area", "must be an integer >= 0")
        if self.schedule not in ("shared", "original"):
            raise bad("schedule", "must be 'shared' or 'original'")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

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

    device: str = "auto"               # auto | cpu | cuda | mps
    feature_cache_mb: int = 2048       # bound on cached image-encoder features (sam2 / sam)
    frame_cache: int = 32              # decoded frames kept in memory
    time_budget_s: float = 0.0         # 0: no budget
    progress: bool = True
    # where the work runs (executors/): local = the engine in this process; windows = windows of
    # key frames one after another here; ray = those windows on Ray workers. windows and ray give
    # the same tracks; window_keys and halo_keys are recorded in the store and a resume must use the same.
    executor: str = "local"            # local | windows | ray
    workers: int = 0                   # ray: number of workers (0: one per GPU, else one per CPU)
    ray_address: str = ""              # ray: "" starts a local Ray, "auto" or host:port joins a cluster
    window_keys: int = 20              # key frames per window (adjacent windows share one)
    halo_keys: int = 2                 # key-frame intervals a window carries unmatched masks past its edge
