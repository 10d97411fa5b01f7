from .run_state import RunState
from .sqlite_store import BACKWARD, FORWARD, GENERATED, STORE_NAME, MaskRow, RunStore, TrackRow

__all__ = ["RunStore", "RunState", "MaskRow", "TrackRow", "STORE_NAME", "GENERATED", "FORWARD", "BACKWARD"]
