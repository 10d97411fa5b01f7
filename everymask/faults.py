"""Fault injection for the crash tests: kill this process at a named point.

`EVERYMASK_CRASH_AT=commit:3` sends SIGKILL to the process in the middle of the 3rd unit commit
(inside the open transaction); other points are `finalize:N` and `export:N`. Unset, it costs one
dict lookup. It exists so the kill tests can hit the moments random timing rarely hits.
"""
from __future__ import annotations

import os
import signal
from collections import Counter

_counts: Counter = Counter()


def crash_point(name: str) -> None:
    target = os.environ.get("EVERYMASK_CRASH_AT")
    if not target:
        return
    _counts[name] += 1
    if target == f"{name}:{_counts[name]}":
        os.kill(os.getpid(), signal.SIGKILL)
