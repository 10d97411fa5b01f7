from .run_state import RunState
from .sqlite_store import BACKWARD, FORWARD, GENERATED, STORE_NAME, RunStore, TrackRow

__all__ = ["RunStore", "RunState", "TrackRow", "STORE_NAME", "GENERATED", "FORWARD", "BACKWARD"]
