"""On-screen text: one keyframe a scene read with Tesseract, kept with its seconds and confidence.

Frames are decoded with PyAV and compared once a second on a small grey picture: a frame where enough pixels
changed (a cut, a banner or caption coming up) starts a scene, and so does a long stretch without one. Each
keyframe is read once (pytesseract, with a time limit); the same text in following scenes is one line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.words.reading import Reader, ReadError, Reading

if TYPE_CHECKING:
    import numpy as np

    from archive.kept_media import KeptMedia

SAMPLE_EVERY = 1.0  # seconds between frames compared for a scene change
CHANGED_LEVELS = 40  # a grey pixel moved this much (of 255) has changed
CHANGED_SHARE = 0.003  # ...and this share of changed pixels starts a scene (a new word in a caption is more)
LONGEST_SCENE = 10.0  # seconds after which a frame is read again even without a change
MIN_CONFIDENCE = 50  # Tesseract's word confidence (0-100) below which a word is noise
OCR_TIMEOUT = 30  # seconds Tesseract may spend on one keyframe


class ScreenError(ReadError):
    """A video's pictures cannot be read (its reason is stored)."""


@dataclass(frozen=True)
class ScreenText:
    """Text shown from `start` to `end` seconds, with Tesseract's mean word confidence (0-1)."""

    start: float
    end: float
    text: str
    confidence: float


def ocr_problem(languages: tuple[str, ...]) -> str | None:
    """Why on-screen text cannot be read with these languages (Tesseract or a language missing), or None."""
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, OSError):
        return "on-screen text: Tesseract is not installed (Debian: tesseract-ocr)"
    missing = [name for name in languages if name not in installed]
    if missing:
        return (f"LASTSEEN_OCR_LANGUAGES: Tesseract has no {', '.join(missing)} "
                f"(Debian: tesseract-ocr-{missing[0]}); it has {', '.join(sorted(installed))}")
    return None


def keyframes(path: Path, max_seconds: float, max_frames: int = 2000,
              deadline: float | None = None) -> Iterator[tuple[float, Any | None]]:
    """(second, PIL picture) of the first frame of each scene in the first `max_seconds`, one at a time (memory
    holds one picture, whatever the video's length), then (last second decoded, None); decoding stops once
    time.monotonic() passes `deadline`."""
    import av
    import numpy as np

    kept, stopped = 0, False
    previous: np.ndarray | None = None
    next_sample, last_kept, second = 0.0, -LONGEST_SCENE, 0.0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise ScreenError("no video track")
            for frame in container.decode(video=0):
                second = float(frame.time or 0.0)
                stopped = deadline is not None and time.monotonic() > deadline
                if second > max_seconds or kept >= max_frames or stopped:
                    break
                if second < next_sample:
                    continue
                next_sample = second + SAMPLE_EVERY
                small = frame.to_ndarray(format="gray", width=320, height=180).astype(np.int16)
                changed = previous is None or np.mean(np.abs(small - previous) > CHANGED_LEVELS) > CHANGED_SHARE
                previous = small
                if changed or second - last_kept >= LONGEST_SCENE:
                    kept += 1
                    last_kept = second
                    yield second, frame.to_image()
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise ScreenError(f"not a readable video: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not kept and not stopped:
        raise ScreenError("no frame decoded")
    yield second, None


def read_picture(picture: Any, languages: str) -> tuple[str, float]:
    """The text Tesseract reads in a picture (lines kept) and its mean word confidence (0-1); ('', 0) for none."""
    import pytesseract

    if picture.height < 720:  # Tesseract reads text best at 20-40 pixels a letter
        scale = 720 / picture.height
        picture = picture.resize((round(picture.width * scale), 720))
    try:
        data = pytesseract.image_to_data(picture, lang=languages, output_type=pytesseract.Output.DICT,
                                         timeout=OCR_TIMEOUT)
    except RuntimeError as exc:  # pytesseract's timeout
        raise ScreenError(f"text reading took too long: {exc}") from None
    except pytesseract.TesseractError as exc:
        raise ScreenError(f"Tesseract failed: {exc.message.strip().splitlines()[0] if exc.message else exc}") from None
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        if word.strip() and confidence >= MIN_CONFIDENCE:
            lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
            confidences.append(confidence)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    if not any(ch.isalnum() for ch in text):
        return "", 0.0
    return text, round(sum(confidences) / len(confidences) / 100, 3)


def read_screen(path: Path, languages: str, max_seconds: float, deadline: float | None = None) -> list[ScreenText]:
    """The text shown in a video, one line a run of keyframes showing the same text (each until the next); read
    until time.monotonic() passes `deadline`."""
    found: list[ScreenText] = []
    shown: tuple[float, str, float] | None = None  # the keyframe read last: its second, text and confidence
    for second, picture in keyframes(path, max_seconds, deadline=deadline):
        if shown is not None and shown[1]:
            start, text, confidence = shown
            if found and found[-1].end == round(start, 2) and found[-1].text == text:
                found[-1] = ScreenText(found[-1].start, round(second, 2), text, max(found[-1].confidence, confidence))
            else:
                found.append(ScreenText(round(start, 2), round(max(second, start), 2), text, confidence))
        shown = None if picture is None else (second, *read_picture(picture, languages))
    return found


def screen_reader(languages: tuple[str, ...], max_seconds: float, max_time: float | None = None) -> Reader:
    """The run's reader of on-screen text: lines as rows and as the record's JSON; a video is read for at most
    `max_time` seconds of wall-clock time (what was read by then is kept)."""
    joined = "+".join(languages)

    def read(media: KeptMedia) -> Reading:
        deadline = time.monotonic() + max_time if max_time else None
        shown = read_screen(media.file(), joined, max_seconds, deadline)
        lines = [{"start": s.start, "end": s.end, "text": s.text, "confidence": s.confidence} for s in shown]
        note = None if lines else "no text on screen"
        if deadline is not None and time.monotonic() > deadline:
            note = (f"stopped by the time limit of {max_time:g} s (LASTSEEN_TRANSCRIBE_VIDEO_TIME), "
                    f"text read up to {lines[-1]['end'] if lines else 0:g} s")
        return Reading(None, lines, {"languages": list(languages), "screen": lines}, note)
    return read
