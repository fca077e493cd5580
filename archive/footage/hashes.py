"""PDQ hashes of frames (Meta's perceptual hash: 256 bits, compared by Hamming distance), packed in 32 bytes.

A query also tries the picture's seven other orientations (rotations and mirrors), which PDQ computes in
one pass; archived frames are hashed as they are. Both sides also hash each frame's top part, so footage under
a banner or a ticker still meets its original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_BITS = 31  # PDQ's threshold: frames within 31 of 256 bits are the same picture
MIN_QUALITY = 50  # PDQ's advice: hashes of lower quality (flat, dark, blurred frames) match too easily
TOP_SHARE = 0.8  # each frame is also hashed without its bottom fifth, where news banners and tickers go


@dataclass(frozen=True)
class FrameHash:
    """One frame's hash: the second it shows in the video, its PDQ quality, and the 32 bytes."""

    second: float
    quality: int
    hash: bytes


def _pack(bits: np.ndarray) -> bytes:
    """PDQ's 256 0/1 values as 32 bytes, most significant bit first."""
    return np.packbits(bits.astype(np.uint8)).tobytes()


def hash_picture(rgb: np.ndarray) -> tuple[bytes, int]:
    """The PDQ hash and quality of an RGB picture."""
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return _pack(bits), int(quality)


def orientations(rgb: np.ndarray) -> tuple[list[bytes], int]:
    """Hashes of the picture in its eight orientations (as is first), and its quality."""
    import pdqhash

    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [_pack(bits) for bits in hashes], int(quality)


def top_part(rgb: np.ndarray) -> np.ndarray:
    """The picture above a news banner: its top TOP_SHARE (a banner over the bottom changes PDQ too much)."""
    return rgb[: max(1, int(rgb.shape[0] * TOP_SHARE))]


def as_words(hashes: list[bytes]) -> np.ndarray:
    """Hashes as an (n, 4) array of uint64 words, the shape the vectorised distance works on."""
    if not hashes:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.frombuffer(b"".join(hashes), dtype=">u8").astype(np.uint64).reshape(-1, 4)


def distances(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Hamming distances between each query hash (rows of `query`) and each hash of `table`: (q, n)."""
    xor = np.bitwise_xor(query[:, None, :], table[None, :, :])
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int32)
