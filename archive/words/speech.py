"""Speech to text with faster-whisper (CTranslate2) from a model folder the operator gives; nothing downloaded.

Audio is decoded with PyAV up to a cap of seconds and transcribed a piece at a time (PIECE_SECONDS: 115 MB of
16 kHz mono float32), so memory stays bounded whatever the video's length; a wall-clock limit a video stops it
between segments, keeping what was heard by then. Silence is cut by the Silero VAD that ships inside
faster-whisper, so it yields no invented words.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.words.reading import Reader, ReadError, Reading

if TYPE_CHECKING:
    import numpy as np

    from archive.kept_media import KeptMedia

RATE = 16_000  # samples a second Whisper listens at
MODEL_FILES = ("model.bin", "config.json")  # what a CTranslate2 Whisper folder holds at least
PIECE_SECONDS = 1800  # audio transcribed at once: memory is bounded by this, not by the video's length


class SpeechError(ReadError):
    """A video's speech cannot be transcribed (its reason is stored)."""


class ModelError(Exception):
    """The model folder is missing or not a usable Whisper model (one line for the operator)."""


@dataclass(frozen=True)
class Word:
    """One word with its seconds."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """One stretch of speech: its seconds, text, confidence (0-1, from the average log-probability) and words."""

    start: float
    end: float
    text: str
    confidence: float
    words: tuple[Word, ...] = field(default=())


@dataclass(frozen=True)
class Transcript:
    """What was said: the language detected (with its probability), the seconds heard, the segments, and the
    second where the time limit stopped it (None: heard to the end or the cap)."""

    language: str
    language_probability: float
    seconds: float
    segments: tuple[Segment, ...]
    cut_at: float | None = None


def model_problem(folder: str) -> str | None:
    """Why `folder` is no Whisper model folder (looked at, not loaded), or None."""
    path = Path(folder).expanduser()
    if not folder:
        return "no speech model configured (LASTSEEN_TRANSCRIBE_MODEL is empty)"
    if not path.is_dir():
        return f"LASTSEEN_TRANSCRIBE_MODEL: no such folder: {path}"
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        return f"LASTSEEN_TRANSCRIBE_MODEL: {path} is not a CTranslate2 Whisper model (no {missing[0]})"
    return None


def load_model(folder: str, threads: int = 0) -> Any:
    """The Whisper model in `folder`, on the CPU with 8-bit weights; ModelError when it is missing or broken."""
    problem = model_problem(folder)
    if problem:
        raise ModelError(problem)
    path = Path(folder).expanduser()
    from faster_whisper import WhisperModel  # CTranslate2 loads only when speech is transcribed

    try:
        return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads or os.cpu_count() or 1,
                            local_files_only=True)
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"LASTSEEN_TRANSCRIBE_MODEL: {path} cannot be loaded: {first}") from None


def audio_pieces(path: Path, max_seconds: float, piece_seconds: float = PIECE_SECONDS) -> Iterator[np.ndarray]:
    """The first `max_seconds` of a file's first audio track, 16 kHz mono float32, in pieces of `piece_seconds`
    (the last shorter); SpeechError when there is none."""
    import av
    import numpy as np

    limit, piece = int(max_seconds * RATE), max(1, int(piece_seconds * RATE))
    held: list[np.ndarray] = []
    count = kept = 0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise SpeechError("no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)[: limit - kept]
                    held.append(samples)
                    count, kept = count + len(samples), kept + len(samples)
                    while count >= piece:
                        whole = np.concatenate(held)
                        held, count = [whole[piece:]], len(whole) - piece
                        yield whole[:piece].astype(np.float32) / 32768.0
                if kept >= limit:
                    break
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise SpeechError(f"not a readable audio track: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not kept:
        raise SpeechError("no audio decoded")
    if count:
        yield np.concatenate(held).astype(np.float32) / 32768.0


def decode_audio(path: Path, max_seconds: float) -> np.ndarray:
    """The first `max_seconds` of a file's first audio track in one array (for short files and the benchmark)."""
    import numpy as np

    return np.concatenate(list(audio_pieces(path, max_seconds, max_seconds or 1)))


def transcribe(model: Any, path: Path, max_seconds: float, deadline: float | None = None) -> Transcript:
    """What is said in a media file's first `max_seconds`, a piece at a time: language detected on the first
    piece, segments with word times; stopped between segments once time.monotonic() passes `deadline`."""
    language, probability, heard, cut_at = None, 0.0, 0.0, None
    segments: list[Segment] = []
    for piece in audio_pieces(path, max_seconds):
        if deadline is not None and time.monotonic() > deadline:
            cut_at = heard
            break
        try:
            found, info = model.transcribe(piece, language=language, beam_size=1, word_timestamps=True,
                                           vad_filter=True, condition_on_previous_text=False)
            for one in found:
                if one.text.strip():
                    segments.append(_segment(one, heard))
                if deadline is not None and time.monotonic() > deadline:
                    cut_at = _second(heard + float(one.end))
                    break
        except (RuntimeError, ValueError) as exc:
            raise SpeechError(f"transcription failed: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        if language is None:
            language, probability = info.language, round(float(info.language_probability), 3)
        heard += len(piece) / RATE
        if cut_at is not None:
            break
    return Transcript(language or "", probability, cut_at if cut_at is not None else heard, tuple(segments), cut_at)


def _segment(found: Any, offset: float) -> Segment:
    words = tuple(Word(_second(offset + w.start), _second(offset + w.end), w.word.strip(),
                       round(float(w.probability), 3)) for w in found.words or ())
    confidence = round(math.exp(min(float(found.avg_logprob), 0.0)), 3)
    return Segment(_second(offset + found.start), _second(offset + found.end), found.text.strip(), confidence, words)


def _second(value: float) -> float:
    return round(float(value), 2)


def speech_reader(model: Any, max_seconds: float, max_time: float | None = None) -> Reader:
    """The run's reader of speech: a transcript as rows (one a segment) and as the record's JSON; a video is read
    for at most `max_time` seconds of wall-clock time (what was heard by then is kept)."""
    def read(media: KeptMedia) -> Reading:
        deadline = time.monotonic() + max_time if max_time else None
        said = transcribe(model, media.file(), max_seconds, deadline)
        lines = [{"start": s.start, "end": s.end, "text": s.text, "language": said.language,
                  "confidence": s.confidence} for s in said.segments]
        fields = {"language": said.language, "language_probability": said.language_probability,
                  "seconds": round(said.seconds, 2), "cut_at": said.cut_at,
                  "segments": [{"start": s.start, "end": s.end, "text": s.text, "confidence": s.confidence,
                                "words": [w.__dict__ for w in s.words]} for s in said.segments]}
        note = None if lines else "no speech heard"
        if said.cut_at is not None:
            note = f"stopped at {said.cut_at:g} s by the time limit of {max_time:g} s (LASTSEEN_TRANSCRIBE_VIDEO_TIME)"
        return Reading(said.language or None, lines, fields, note)
    return read
