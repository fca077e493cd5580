"""Frames of a video for fingerprinting: decoded with PyAV, sampled a few times a second, black bars cut.

Decoding is bounded: a stream too small or too large to be footage is refused before decoding, and the
number of decoded frames and the wall time are capped, so a hostile file is a failure, never a hang.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_SIDE = 32  # pixels: smaller pictures carry no footage worth matching (and 1-pixel video is a trap)
MAX_PIXELS = 8192 * 8192  # a frame larger than this is refused before it is decoded
LONG_SIDE = 512  # frames are scaled to this long side before cutting bars and hashing (PDQ works at 64x64)
BAR_LUMA = 24  # a row or column whose brightest pixel is darker than this is a black bar
NO_MEMORY = "needs more memory than a footage worker may use"  # the reason stored when the memory cap is hit


class FootageError(Exception):
    """A video or image that cannot be fingerprinted; the message is the stored reason, one line."""


@dataclass(frozen=True)
class Limits:
    """How much one file may cost: seconds of video read, frames decoded, and wall time."""

    max_seconds: float = 4 * 3600
    max_decoded: int = 2_000_000
    max_wall: float = 600.0


@dataclass(frozen=True)
class Frame:
    """One sampled frame: its second in the video and its RGB pixels (bars cut)."""

    second: float
    rgb: np.ndarray


def cut_bars(rgb: np.ndarray) -> np.ndarray:
    """The picture without the black bars around it (letterbox, pillarbox, padding of vertical footage)."""
    luma = rgb.max(axis=2)
    rows = np.flatnonzero(luma.max(axis=1) >= BAR_LUMA)
    cols = np.flatnonzero(luma.max(axis=0) >= BAR_LUMA)
    if rows.size == 0 or cols.size == 0:
        return rgb  # all dark: nothing to cut; PDQ's quality will drop it
    return rgb[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _scaled_size(width: int, height: int) -> tuple[int, int]:
    """Width and height with the long side at most LONG_SIDE, aspect kept, both even and non-zero."""
    scale = min(1.0, LONG_SIDE / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def sample(path: Path, per_second: float, limits: Limits = Limits()) -> Iterator[Frame]:
    """Frames of the file's first video stream, `per_second` of them a second of its time, bars cut."""
    import av

    started = time.monotonic()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise FootageError(f"not a readable video: {one_line(exc)}") from None
    with container:
        if not container.streams.video:
            raise FootageError("no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_size(width, height)
        stream.thread_type = "AUTO"
        size = _scaled_size(width, height)
        step, taken, decoded = 1.0 / per_second, 0, 0
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > limits.max_decoded or time.monotonic() - started > limits.max_wall:
                    raise FootageError(f"too costly to decode: {decoded} frames in "
                                       f"{time.monotonic() - started:.0f} s")
                if frame.time is None or frame.time < taken * step - 1e-6:
                    continue
                if frame.time > limits.max_seconds:
                    return
                _check_size(frame.width, frame.height)
                rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                yield Frame(float(frame.time), cut_bars(rgb))
                taken = int(frame.time / step + 1e-6) + 1  # on a grid of seconds, so copies sample alike
        except MemoryError:
            raise FootageError(NO_MEMORY) from None
        except ValueError as exc:  # a pixel format or size PyAV cannot convert
            raise FootageError(f"undecodable picture: {one_line(exc)}") from None
        except av.error.FFmpegError as exc:
            if decoded == 0:
                raise FootageError(f"undecodable video: {one_line(exc)}") from None
            # A truncated file: the frames before the damage are kept, as a player would show them.


def read_image(path: Path) -> np.ndarray:
    """An image file's RGB pixels (bars cut), decoded by PyAV as a one-frame video."""
    frames = list(sample(path, per_second=1.0, limits=Limits(max_decoded=2)))
    if not frames:
        raise FootageError("no picture in the file")
    return frames[0].rgb


def _check_size(width: int, height: int) -> None:
    """Refuse pictures too small to be footage or too large to decode safely."""
    if min(width, height) < MIN_SIDE:
        raise FootageError(f"picture too small to fingerprint ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise FootageError(f"picture too large to decode ({width}x{height})")


def one_line(exc: Exception) -> str:
    """An exception's text on one short line."""
    return " ".join(str(exc).split())[:200]
