"""One round of the words stage: kept captions always, speech when a model is configured, on-screen text when
languages are.

Shared by `lastseen transcribe`, the scheduler without a broker and the `transcribe` task on a worker. A model
folder or Tesseract setup that cannot work is a WordsSetupError (one line), raised before any video is read.
"""

from __future__ import annotations

from typing import Any

from archive.db import session_scope
from archive.words.captions import caption_reader
from archive.words.indexing import index_unindexed
from archive.words.keeping import TextFiles
from archive.words.reading import Reader
from archive.words.run import Tally, pending, read_pending, tally
from archive.words.screen import ocr_problem, screen_reader
from archive.words.speech import ModelError, load_model, model_problem, speech_reader
from archive.words.tables import CAPTION, SCREEN, SPEECH
from archive.workspace import Workspace

SOURCES = (CAPTION, SPEECH, SCREEN)


class WordsSetupError(Exception):
    """The model folder or the Tesseract languages cannot be used (one line for the operator)."""


def read_words(ws: Workspace, collection_id: int | None = None,
               actor: str = "lastseen transcribe") -> dict[str, Tally | None]:
    """Read every pending kept video by each source that is on; a source that is off is None."""
    settings = ws.settings
    with session_scope(ws.sessions) as session:
        waiting = {source: bool(pending(session, source, collection_id, limit=1)) for source in SOURCES}
    if settings.transcribe_model and (problem := model_problem(settings.transcribe_model)):
        raise WordsSetupError(problem)
    model = None
    if settings.transcribe_model and waiting[SPEECH]:  # a large model takes seconds and GBs: loaded for work only
        try:
            model = load_model(settings.transcribe_model, settings.transcribe_threads)
        except ModelError as exc:
            raise WordsSetupError(str(exc)) from None
    if settings.ocr_languages and (problem := ocr_problem(settings.ocr_languages)):
        raise WordsSetupError(problem)
    readers: dict[str, Reader] = {CAPTION: caption_reader()}
    if model is not None:
        readers[SPEECH] = speech_reader(model, settings.transcribe_max_seconds, settings.transcribe_video_time)
    if settings.ocr_languages:
        readers[SCREEN] = screen_reader(settings.ocr_languages, settings.transcribe_max_seconds,
                                        settings.transcribe_video_time)
    with session_scope(ws.sessions) as session:
        index_unindexed(session)  # lines read before they were searchable
    tried: dict[str, list[int]] = {}
    if any(waiting[source] for source in readers):  # a round with nothing to read opens no file and asks no TSA
        files = TextFiles(ws, actor)  # one WARC file for the round's records of every source
        try:
            for source, reader in readers.items():
                if waiting[source]:
                    tried[source] = read_pending(ws, files, source, reader, collection_id)
        finally:
            files.close()
    on = {CAPTION: True, SPEECH: bool(settings.transcribe_model), SCREEN: bool(settings.ocr_languages)}
    return {source: tally(ws, tried.get(source, []), source) if on[source] else None for source in SOURCES}


def tally_fields(tally: Tally | None) -> dict[str, Any] | None:
    """A source's tally as JSON (None: the source is off)."""
    if tally is None:
        return None
    return {"read": tally.done, "empty": tally.empty, "failed": tally.failed, "lines": tally.lines,
            "failures": tally.failures}
