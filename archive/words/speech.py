"""Speech to text with faster-whisper (CTranslate2) from a model folder the operator gives; nothing downloaded.

Audio is decoded with PyAV up to a cap of seconds, so memory stays bounded (16 kHz mono float32: 230 MB an
hour); silence is cut by the Silero VAD that ships inside faster-whisper, so it yields no invented words.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.words.reading import Reader, ReadError, Reading

if TYPE_CHECKING:
    import numpy as np

    from archive.kept_media import KeptMedia

RATE = 16_000  # samples a second Whisper listens at
MODEL_FILES = ("model.bin", "config.json")  # what a CTranslate2 Whisper folder holds at least


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
    """What was said: the language detected (with its probability), the seconds heard, and the segments."""

    language: str
    language_probability: float
    seconds: float
    segments: tuple[Segment, ...]


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


def decode_audio(path: Path, max_seconds: float) -> np.ndarray:
    """The first `max_seconds` of a file's first audio track, 16 kHz mono float32; SpeechError when there is none."""
    import av
    import numpy as np

    limit = int(max_seconds * RATE)
    chunks: list[np.ndarray] = []
    kept = 0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise SpeechError("no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)[: limit - kept]
                    chunks.append(samples)
                    kept += len(samples)
                if kept >= limit:
                    break
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise SpeechError(f"not a readable audio track: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if not kept:
        raise SpeechError("no audio decoded")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def transcribe(model: Any, path: Path, max_seconds: float) -> Transcript:
    """What is said in a media file's first `max_seconds`: language detected, segments with word times."""
    audio = decode_audio(path, max_seconds)
    try:
        found, info = model.transcribe(audio, beam_size=1, word_timestamps=True, vad_filter=True,
                                       condition_on_previous_text=False)
        segments = tuple(_segment(s) for s in found if s.text.strip())
    except (RuntimeError, ValueError) as exc:
        raise SpeechError(f"transcription failed: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    return Transcript(info.language, round(float(info.language_probability), 3), len(audio) / RATE, segments)


def _segment(found: Any) -> Segment:
    words = tuple(Word(_second(w.start), _second(w.end), w.word.strip(), round(float(w.probability), 3))
                  for w in found.words or ())
    confidence = round(math.exp(min(float(found.avg_logprob), 0.0)), 3)
    return Segment(_second(found.start), _second(found.end), found.text.strip(), confidence, words)


def _second(value: float) -> float:
    return round(float(value), 2)


def speech_reader(model: Any, max_seconds: float) -> Reader:
    """The run's reader of speech: a transcript as rows (one a segment) and as the record's JSON."""
    def read(media: KeptMedia) -> Reading:
        said = transcribe(model, media.file(), max_seconds)
        lines = [{"start": s.start, "end": s.end, "text": s.text, "language": said.language,
                  "confidence": s.confidence} for s in said.segments]
        fields = {"language": said.language, "language_probability": said.language_probability,
                  "seconds": round(said.seconds, 2),
                  "segments": [{"start": s.start, "end": s.end, "text": s.text, "confidence": s.confidence,
                                "words": [w.__dict__ for w in s.words]} for s in said.segments]}
        return Reading(said.language, lines, fields, None if lines else "no speech heard")
    return read
