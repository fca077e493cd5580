"""Captions found at capture time: a page's <track> files (pure finding) and yt-dlp's subtitle files named with
their language and kind, so each is kept under its own URL or a urn naming its language and media."""

from __future__ import annotations

from pathlib import Path

from archive.config import Settings
from archive.db import session_scope
from archive.extract.tracks import MAX_TRACKS, page_tracks
from archive.models import Video
from archive.research.search import search
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.words.indexing import index_lines, index_unindexed
from archive.words.tables import TextLine, WordsRun
from archive.workspace import Workspace
from crawler.download import Extra, _extras


def test_a_pages_tracks_are_found_with_their_language() -> None:
    html = (b'<html><head><base href="https://news.example/v/"></head><body>'
            b'<video><source src="a.mp4"><track src="a.en.vtt" srclang="en" kind="subtitles">'
            b'<track src="/cc/a.vtt" srclang="ru" kind="captions"><track src="a.ch.vtt" kind="chapters">'
            b'<track src="a.ad.vtt" kind="descriptions"><track src="a.en.vtt#x" srclang="en"></video>'
            b'<audio><track src="data:text/vtt,WEBVTT" srclang="de"><track src="pod.vtt" srclang="de"></audio>'
            b'<track src="loose.vtt" srclang="fr"></body></html>')
    found = [(t.url, t.language, t.kind) for t in page_tracks(html, "https://news.example/page", "text/html")]
    assert found == [("https://news.example/v/a.en.vtt", "en", "subtitles"),
                     ("https://news.example/cc/a.vtt", "ru", "captions"),
                     ("https://news.example/v/a.ad.vtt", None, "descriptions"),
                     ("https://news.example/v/pod.vtt", "de", "subtitles")]
    many = "".join(f'<track src="t{n}.vtt">' for n in range(MAX_TRACKS * 3))
    assert len(page_tracks(f"<video>{many}</video>".encode(), "https://a.example/", None)) == MAX_TRACKS
    assert page_tracks(b"", "https://a.example/", None) == []


def test_subtitle_files_carry_their_language_and_kind(tmp_path: Path) -> None:
    for name in ("media.en.vtt", "media.de.vtt", "media.uk.vtt", "thumb.jpg"):
        (tmp_path / name).write_text("WEBVTT\n")
    info = {"subtitles": {"en": [{}]}, "automatic_captions": {"de": [{}], "uk": [{}]},
            "thumbnails": [{"url": "https://i.example/t.jpg", "filepath": str(tmp_path / "thumb.jpg")}],
            "requested_subtitles": {
                "en": {"url": "https://v.example/en.vtt", "filepath": str(tmp_path / "media.en.vtt")},
                "de": {"url": "https://v.example/de.vtt", "filepath": str(tmp_path / "media.de.vtt")},
                "uk": {"data": "WEBVTT", "filepath": str(tmp_path / "media.uk.vtt")},  # no URL served it
                "fr": {"url": "https://v.example/fr.vtt", "filepath": str(tmp_path / "missing.vtt")}}}
    assert _extras(info, tmp_path) == [
        Extra(tmp_path / "thumb.jpg", "https://i.example/t.jpg"),
        Extra(tmp_path / "media.en.vtt", "https://v.example/en.vtt", "en", "subtitles"),
        Extra(tmp_path / "media.de.vtt", "https://v.example/de.vtt", "de", "automatic"),
        Extra(tmp_path / "media.uk.vtt", None, "uk", "automatic")]


def test_a_videos_lines_are_indexed_again_in_place(settings: Settings) -> None:
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [video] = add_sources(session, ensure_collection(session, "clips"),
                                  [SourceEntry("https://v.example/watch?v=1")], kind="video").added
            [other] = add_sources(session, ensure_collection(session, "clips"),
                                  [SourceEntry("https://v.example/watch?v=2")], kind="video").added
            said = [{"start": 1.5, "text": "the dam broke at noon", "language": "en"},
                    {"start": 9.0, "text": "water in the square", "language": "en"}]
            assert index_lines(session, 7, video.id, None, "speech", said) == 2
            assert index_lines(session, 8, other.id, None, "speech", said) == 2  # another video's: untouched
            assert index_lines(session, 7, video.id, None, "screen", said[:1]) == 1  # another source's: untouched
            assert index_lines(session, 7, video.id, None, "speech", said[1:] + [{"start": 3, "text": " "}]) == 1
            hits = search(session, "water square")
            assert sorted((hit["source_id"], hit["kind"], hit["second"]) for hit in hits) == [
                (video.id, "speech", 9.0), (other.id, "speech", 9.0)]
            hits = search(session, "dam broke noon")
            assert sorted((hit["source_id"], hit["kind"], hit["second"]) for hit in hits) == [
                (video.id, "screen", 1.5), (other.id, "speech", 1.5)]
            many = [{"start": float(n), "text": f"line {n}"} for n in range(30)]
            assert index_lines(session, 7, video.id, None, "caption", many, limit=20) == 20
    finally:
        ws.close()


def test_lines_read_before_they_were_searchable_are_indexed_a_step_at_a_time(settings: Settings) -> None:
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            videos = []
            for number in range(3):
                [source] = add_sources(session, ensure_collection(session, "clips"),
                                       [SourceEntry(f"https://v.example/watch?v={number}")], kind="video").added
                video = Video(source_id=source.id, provider="generic", video_id=str(number),
                              canonical_url=source.url)
                session.add(video)
                session.flush()
                session.add_all([WordsRun(video_id=video.id, source="speech", state="done", lines=1),
                                 TextLine(video_id=video.id, source="speech", start=2.5 + number, end=4.0,
                                          text=f"the levee number {number} held", language="en")])
                videos.append(video)
            session.add(WordsRun(video_id=videos[0].id, source="screen", state="failed", reason="no video track"))
            session.flush()
            assert index_unindexed(session, limit=2) == 2
            assert index_unindexed(session, limit=2) == 1
            assert index_unindexed(session) == 0  # all indexed: nothing more to do
            hits = search(session, "levee held")
            assert sorted((hit["source_id"], hit["second"]) for hit in hits) == [
                (video.source_id, 2.5 + number) for number, video in enumerate(videos)]
    finally:
        ws.close()
