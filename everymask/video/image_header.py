"""Image (width, height) from a file's header (Pillow), so a folder is checked without decoding."""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) as stored (before any EXIF rotation); None when Pillow cannot tell.

    None means "decode to find out", not "broken". Pillow refuses headers past its own
    decompression-bomb limit (about 179 megapixels); ours (`frames.check_pixel_limit`, which knows
    `--max-side`) must see the size to refuse with it, so such a header is read again unguarded.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                return image.size
        except Image.DecompressionBombError:
            return _size_past_pillow_limit(path)
        except (OSError, ValueError, EOFError):  # UnidentifiedImageError is an OSError
            return None


def _size_past_pillow_limit(path: Path) -> tuple[int, int] | None:
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # only the header is read: nothing is decoded
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, EOFError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
