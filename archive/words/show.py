"""What a kept video says and shows, read back for people: its readings and lines, as JSON, WebVTT or text.

Read by the surfaces (`lastseen transcript`, `lastseen status`); each line keeps its seconds and source
(speech, screen, caption) so a quote can be checked against the archived video at that second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import Video
from archive.timefmt import iso
from archive.words.tables import TextLine, WordsRun


def words_of(session: Session, source_id: int, limit: int | None = None) -> dict[str, Any] | None:
    """The readings and lines of the video tracked as this source (by start second, the first `limit` of them when
    given: each reading says how many it found); None for no video."""
    video_id = session.scalar(select(Video.id).where(Video.source_id == source_id))
    if video_id is None:
        return None
    runs = [{"source": r.source, "state": r.state, "reason": r.reason, "language": r.language, "lines": r.lines,
             "read_at": iso(r.made_at), "warc_uri": r.record_uri}
            for r in session.scalars(select(WordsRun).where(WordsRun.video_id == video_id)
                                     .order_by(WordsRun.source))]
    lines = [{"start": line.start, "end": line.end, "source": line.source, "text": line.text,
              "language": line.language, "confidence": line.confidence}
             for line in session.scalars(select(TextLine).where(TextLine.video_id == video_id)
                                         .order_by(TextLine.start, TextLine.source, TextLine.id).limit(limit))]
    return {"runs": runs, "lines": lines}


def clock(second: float, *, vtt: bool = False) -> str:
    """A second as 1:02.5 for people, or 00:01:02.500 for WebVTT."""
    if vtt:
        millis = round(second * 1000)
        return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"
    minutes, rest = divmod(second, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def as_vtt(lines: list[dict[str, Any]]) -> str:
    """The lines as a WebVTT file; each cue's identifier names its source (speech-1, screen-1, caption-1...)."""
    counts: dict[str, int] = {}
    cues = ["WEBVTT", ""]
    for line in lines:
        counts[line["source"]] = counts.get(line["source"], 0) + 1
        end = max(line["end"], line["start"] + 0.001)
        text = "\n".join(part for part in line["text"].replace("-->", "->").splitlines() if part.strip())
        cues += [f"{line['source']}-{counts[line['source']]}",
                 f"{clock(line['start'], vtt=True)} --> {clock(end, vtt=True)}", text, ""]
    return "\n".join(cues)


def as_text(lines: list[dict[str, Any]]) -> str:
    """The lines for reading: one a line, with its seconds and source."""
    return "\n".join(f"[{clock(line['start'])}-{clock(line['end'])}] {line['source']}: "
                     f"{' / '.join(line['text'].splitlines())}" for line in lines)


def as_report(runs: list[dict[str, Any]], lines: list[dict[str, Any]]) -> str:
    """The readings (one `#` line each: state, lines, language, reason) then the lines, for reading."""
    said = []
    for run in runs:
        count = f"{run['lines']} line(s)" + (f", {run['language']}" if run["language"] else "")
        said.append(f"# {run['source']}: {run['state']}, {count}" + (f" ({run['reason']})" if run["reason"] else ""))
    if not runs:
        said.append("# not read yet (`lastseen transcribe`)")
    return "\n".join(said + ([as_text(lines)] if lines else []))


def transcript(words: dict[str, Any], source: str | None, form: str) -> str | dict[str, Any]:
    """A video's words in one of the formats people and scripts ask for (json, vtt, txt), of one source or all."""
    lines = [line for line in words["lines"] if source is None or line["source"] == source]
    if form == "json":
        return {"runs": words["runs"], "lines": lines}
    return as_vtt(lines) if form == "vtt" else as_report(words["runs"], lines)
