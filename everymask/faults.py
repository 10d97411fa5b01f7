"""Fault injection for the crash tests: kill this process at a named point.

`EVERYMASK_CRASH_AT=commit:3` sends SIGKILL to the process in the middle of the 3rd unit commit
(inside the open transaction); other points are `finalize:N` and `export:N`.
`EVERYMASK_PAUSE_AT=commit:2` sleeps there instead (up to 60 s), so a test can send a signal at a
known moment. Unset, each costs one dict lookup. It exists so the kill tests can hit the moments random timing rarely hits.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter

_counts: Counter = Counter()


def crash_point(name: str) -> None:
    crash, pause = os.environ.get("EVERYMASK_CRASH_AT"), os.environ.get("EVERYMASK_PAUSE_AT")
    if not crash and not pause:
        return
    _counts[name] += 1
    here = f"{name}:{_counts[name]}"
    if crash == here:
        os.kill(os.getpid(), signal.SIGKILL)
    if pause == here:
        print(f"everymask: paused at {here}", file=sys.stderr, flush=True)
        time.sleep(60)
