"""Export formats: name -> writer(run, path). Each writes atomically (temp file + rename)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .ytvis import write_ytvis

if TYPE_CHECKING:
    from ..api import Run

# format name -> (writer, default output name inside the run directory)
FORMATS: dict[str, tuple[Callable[["Run", Path], Path], str]] = {
    "ytvis": (write_ytvis, "tracks.json"),
}


def export(run: "Run", fmt: str, path: str | Path | None = None) -> Path:
    from ..errors import EverymaskError
    if fmt not in FORMATS:
        raise EverymaskError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writer, default = FORMATS[fmt]
    return writer(run, Path(path) if path else run.dir / default)
