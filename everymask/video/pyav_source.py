"""Video files through PyAV: an index pass without decoding, then seek + decode on demand."""
from __future__ import annotations

import bisect
import logging
import os
import warnings
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import EverymaskError
from . import fingerprint as fp
from .cache import FrameCache
from .frames import check_pixel_limit, resize, scaled_size, to_rgb8
from .orientation import Transform, is_mirrored, upright_transform

log = logging.getLogger(__name__)

#: Errors PyAV raises for unreadable or damaged data; all mean "stop here", not "bug".
DECODE_ERRORS = (av.error.FFmpegError, EOFError, ValueError)


class PyAVSource:
    """A video file as a `FrameSource`.

    Frame `i` is the i-th frame in display (pts) order. Opening demuxes every packet once (no
    decoding) to learn the pts of each frame and where keyframes are; `frame(i)` then decodes
    from the keyframe before `i` (or keeps decoding forward if the decoder is already close),
    caching what it decodes, so in-order reads and short steps back cost one decode per frame.
    """

    kind = "video"

    def __init__(self, path: str | Path, max_side: int = 0, cache_frames: int = 32) -> None:
        self.path = str(path)
        self._name = Path(path).name
        self._file_size = os.path.getsize(path)
        self._container = _open_container(self.path, self._name)
        try:
            self._setup(max_side, cache_frames)
        except BaseException:
            self._container.close()
            raise

    def _setup(self, max_side: int, cache_frames: int) -> None:
        container = self._container
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise EverymaskError(
                f"{self._name} has no video stream (streams: {', '.join(kinds)}); "
                "pass a video file or a folder of images"
            )
        self._stream = container.streams.video[0]
        self._stream.codec_context.thread_type = "AUTO"
        self._cache = FrameCache(cache_frames)
        self._decoder: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._last = -1  # index of the last frame the live decoder produced
        self._transform: Transform = lambda a: a
        self._dropped_packets = 0
        self._demux_error = False
        self.seeks = 0  # decoder restarts served by frame(); read by tests and benchmarks
        self.decoded = 0  # frames decoded by frame()

        self._pts, self._keys = self._index_packets()
        self._rank = {p: i for i, p in enumerate(self._pts)} if self._pts is not None else {}
        if self._pts is None or not self._keys:
            self._count_by_decoding()
        first = self._first_frame()
        if self._pts is not None and (self._dropped_packets or self._demux_error
                                      or self._declared_frames()[0] > len(self._pts)):
            self._check_tail()  # only when the packets hint at damage: it decodes two GOPs
        if len(self) == 0:
            raise EverymaskError(f"{self._name}: no frame of the video stream decodes; the file is damaged")

        matrix = first.side_data.get("DISPLAYMATRIX") if hasattr(first.side_data, "get") else None
        mirrored = is_mirrored(np.frombuffer(bytes(matrix), np.int32) if matrix is not None else None)
        self._transform, swaps = upright_transform(first.rotation, mirrored)
        h, w = first.height, first.width
        self._input_size = (w, h) if swaps else (h, w)
        check_pixel_limit(self._name, *self._input_size, max_side)
        self._size = scaled_size(*self._input_size, max_side)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else 30.0

    # -- index ---------------------------------------------------------------------------------

    def _index_packets(self) -> tuple[list[int] | None, list[int]]:
        """Sorted frame pts and the frame indices of keyframes, from packets alone.

        Packets past the end of the file (a truncated download) or flagged corrupt are left out;
        a stream without usable pts returns None and is counted by decoding instead.
        """
        pts: list[int] = []
        key_pts: list[int] = []
        dropped = 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None, []
                if packet.is_corrupt or packet.is_discard or (
                    packet.pos is not None and packet.pos >= 0
                    and packet.pos + packet.size > self._file_size
                ):
                    dropped += 1
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
        except DECODE_ERRORS as exc:
            log.debug("demux stopped early on %s: %s", self._name, exc)
            self._demux_error = True
        if len(set(pts)) != len(pts):
            return None, []
        pts.sort()
        rank = {p: i for i, p in enumerate(pts)}
        keys = sorted(rank[p] for p in key_pts)
        self._dropped_packets = dropped
        return pts, keys

    def _count_by_decoding(self) -> None:
        """Fallback for streams without pts/keyframes: number frames in decode output order."""
        self._pts = None
        self._keys = [0]
        self._count = sum(1 for _ in self._decode_from(0))
        declared = int(self._stream.frames or 0)
        if 0 < self._count < declared:
            self._warn_truncated(self._count, f"{declared}")

    def _first_frame(self) -> av.VideoFrame:
        """The first frame that decodes; also checks that decoded pts match the packet index."""
        if self._pts is not None:
            try:
                self._container.seek(self._pts[0], stream=self._stream, backward=True)
                first = next(self._frames(), None)
            except DECODE_ERRORS:
                first = None
            index = self._rank.get(first.pts) if first is not None else None
            if index is None:  # pts we cannot trust: number frames by decoding instead
                self._count_by_decoding()
            elif index > 0:  # leading frames that never decode (a stream cut mid-GOP)
                self._pts = self._pts[index:]
                self._rank = {p: i for i, p in enumerate(self._pts)}
                self._keys = [k - index for k in self._keys if k >= index] or [0]
            if first is not None and index is not None:
                return first
        for _, frame in self._decode_from(0):
            return frame
        raise EverymaskError(f"{self._name}: no frame of the video stream decodes; the file is damaged")

    def _declared_frames(self) -> tuple[int, bool]:
        """(frames the header promises, exact?): the mp4 sample count, else duration x rate.

        Matroska/WebM headers keep the duration even when the file is cut short, which is how a
        truncated mkv is told from a complete one; for those the count is an estimate.
        """
        if self._stream.frames:
            return int(self._stream.frames), True
        duration = self._container.duration / 1e6 if self._container.duration else 0.0
        rate = self._stream.average_rate or self._stream.guessed_rate
        if not (duration and rate and self._pts):
            return 0, False
        tb = float(self._stream.time_base)
        start = (self._container.start_time or 0) / 1e6
        covered = (self._pts[-1] * tb - start) + 1.0 / float(rate)
        if duration - covered <= 0.5 / float(rate):  # ends where the header says: complete
            return 0, False
        return max(len(self._pts), round(duration * float(rate))), False

    def _check_tail(self) -> None:
        """Decode the last two GOPs: `len` must be the frames that really decode, not the packets."""
        expected = len(self._pts)
        # from the keyframe before the last: B-frames shown before a keyframe may depend on it
        start = self._keys[-2] if len(self._keys) > 1 else 0
        seen = set()
        for index, _ in self._decode_from(start):
            seen.add(index)
        readable = start
        while readable in seen:
            readable += 1
        header, exact = self._declared_frames()
        declared = max(header, expected + self._dropped_packets)
        if readable < declared:
            if readable < expected:
                self._pts = self._pts[:readable]
                self._keys = [k for k in self._keys if k < readable]
            about = "" if exact or declared == expected + self._dropped_packets else "about "
            self._warn_truncated(readable, f"{about}{declared}")
        self._decoder = None

    def _warn_truncated(self, readable: int, declared: str) -> None:
        msg = f"{self._name} is damaged or truncated: using the {readable} of {declared} frames that decode"
        warnings.warn(msg, stacklevel=5)
        log.warning(msg)

    # -- decoding ------------------------------------------------------------------------------

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decode from the current demuxer position, packet by packet.

        A packet that fails to decode is skipped, a demux error ends the stream, and the decoder
        is always drained at the end, so frames still buffered (B-frame reordering, frame
        threads) are not lost when a damaged tail raises.
        """
        stream = self._stream
        try:
            for packet in self._container.demux(stream):
                if packet.size and (packet.is_corrupt or (
                        packet.pos is not None and packet.pos >= 0
                        and packet.pos + packet.size > self._file_size)):
                    continue  # cut off by the end of the file: would decode to garbage
                try:
                    frames = stream.decode(packet)
                except DECODE_ERRORS as exc:
                    log.debug("skipping a packet of %s: %s", self._name, exc)
                    continue
                yield from frames
        except DECODE_ERRORS as exc:
            log.debug("demux stopped on %s: %s", self._name, exc)
        try:
            yield from stream.decode(None)
        except DECODE_ERRORS:
            pass

    def _decode_from(self, key_index: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield (index, frame) from keyframe `key_index` on; stop quietly at unreadable data."""
        if self._pts is None:  # no usable pts: restart from the top, number in output order
            self._container.close()
            self._container = av.open(self.path, metadata_errors="ignore")
            self._stream = self._container.streams.video[0]
            self._stream.codec_context.thread_type = "AUTO"
            for n, frame in enumerate(self._frames()):
                yield n, frame
            return
        key_pts = self._pts[key_index]
        try:
            self._container.seek(key_pts, stream=self._stream, backward=True, any_frame=False)
        except DECODE_ERRORS as exc:
            log.debug("seek failed on %s: %s", self._name, exc)
            return
        for frame in self._frames():
            if frame.pts is None or frame.pts < key_pts:
                continue  # leading pictures of an open GOP: not decodable from here
            index = self._rank.get(frame.pts)
            if index is None:
                continue
            yield index, frame

    def _convert(self, frame: av.VideoFrame) -> np.ndarray:
        rgb = to_rgb8(frame.to_ndarray(format="rgb24"), bgr=False)
        rgb = np.ascontiguousarray(self._transform(rgb))
        return resize(rgb, self._size)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as H x W x 3 uint8 RGB (read-only view shared with the cache)."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        index %= n
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        key = self._keys[bisect.bisect_right(self._keys, index) - 1] if self._pts is not None else 0
        if self._decoder is None or not (self._last < index and key <= self._last + 1):
            self._decoder = self._decode_from(key)
            self._last = -1
            self.seeks += 1
        for got, frame in self._decoder:
            self._last = got
            self.decoded += 1
            if got >= index - self._cache.capacity:
                image = self._convert(frame)
                image.setflags(write=False)
                self._cache.put(got, image)
            if got >= index:
                break
        result = self._cache.get(index)
        if result is None:
            self._decoder = None
            raise EverymaskError(
                f"{self._name}: frame {index} does not decode (the file is damaged there); "
                "re-encode or repair the video"
            )
        return result

    # -- protocol ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._pts) if self._pts is not None else self._count

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_size

    def fingerprint(self) -> str:
        return fp.combine({
            "kind": self.kind,
            "input_size": list(self._input_size),
            "frames": len(self),
            "file_size": self._file_size,
            "bytes": fp.sampled_bytes_digest(Path(self.path)),
        })

    def close(self) -> None:
        self._decoder = None
        self._cache.clear()
        self._container.close()

    def __enter__(self) -> "PyAVSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PyAVSource({self.path!r}, frames={len(self)}, size={self._size}, fps={self.fps:g})"


def _open_container(path: str, name: str) -> av.container.InputContainer:
    try:
        return av.open(path, metadata_errors="ignore")
    except DECODE_ERRORS as exc:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            raise EverymaskError(
                f"{name} is an MP4/MOV that cannot be opened: it is truncated or damaged (its "
                "index, the moov atom, is missing); re-download or re-export it"
            ) from None
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise EverymaskError(
            f"{name} is not a video PyAV can read ({str(detail).lower()}); pass a video file "
            "(mp4, mkv, webm, avi, mov) or a folder of images"
        ) from None
