"""Key frames, provisional ids and the order of work.

Work is done window after window (key frame k_i to k_{i+1}) so that the frames a window needs
are visited close together in time and stay in the backends' frame/feature caches:

    fwd(k_i); gen(k_{i+1}); bwd(k_{i+1}, origin k_{i+1}); then the backward cascade of that origin
    (masks of k_{i+1} unmatched at k_i keep going back: bwd(k_i, k_{i+1}), bwd(k_{i-1}, k_{i+1}), ...)

fwd(k_i) comes first so that the masks it carries into k_{i+1} are there when k_{i+1} is
generated: the generator gets them as a prior (hints of what to find again).

The forward direction is one chain (fwd(k) carries the unmatched arrivals of fwd(k-) along with
k's own masks). The backward direction cannot be one chain in time order (its continuations come
from the future), so each origin key frame has its own cascade, which ends as soon as none of
its masks is left unmatched.
"""
from __future__ import annotations

# provisional id of the j-th largest mask generated on frame k: k * PID_BASE + j
PID_BASE = 100_000


def key_frames(num_frames: int, step: int) -> list[int]:
    """0, step, 2*step, ... and always the last frame."""
    if num_frames <= 0:
        return []
    keys = list(range(0, num_frames, step))
    if keys[-1] != num_frames - 1:
        keys.append(num_frames - 1)
    return keys


def pid_of(frame: int, rank: int) -> int:
    return frame * PID_BASE + rank


def origin_of(pid: int) -> int:
    """The key frame a provisional id was generated on."""
    return pid // PID_BASE


def gen_unit(k: int) -> str:
    return f"gen:{k}"


def fwd_unit(k: int) -> str:
    return f"fwd:{k}"


def bwd_unit(k: int, origin: int) -> str:
    return f"bwd:{k}:{origin}"
