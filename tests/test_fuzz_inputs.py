"""Fuzzing what people and files hand lastseen: importers and API bodies, with hypothesis.

Properties: an import file of any content either is refused whole with ImportFormatError (one line) or goes in
line by line, each bad line refused alone, on SQLite and PostgreSQL alike; an API body of any shape gets a
JSON answer below 500. Derandomized, so CI runs the same cases every time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.api import create_app
from archive.config import Settings
from archive.db import session_scope
from archive.sources import add_sources, ensure_collection
from archive.sources.importers import ImportFormatError, read_entries
from archive.tokens import create_token
from archive.workspace import Workspace
from tests.conftest import make_settings

FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
PUBLIC = "93.184.216.34"

# ---------------------------------------------------------------------------------------------- import files

nasty = st.sampled_from(["\x00", "\ufeff", "\r", "\t", "&", "&amp;", "&bogus;", "<", "]]>", "\ud800", "é", ";", ",",
                         '"', "'", "|", "#", "=cmd|' /C calc'!A0", "x" * 300, "h" * 260])
cell = st.one_of(st.text(max_size=30), nasty, st.builds("".join, st.lists(nasty, max_size=4)))
url = st.one_of(st.builds(lambda h, p: f"https://{h}/{p}", st.text("abc.-", min_size=1, max_size=10), cell), cell)
text_file = st.lists(st.one_of(url, st.just("# comment"), st.just("")), max_size=20).map("\n".join)
csv_file = st.builds(lambda sep, header, rows: header.replace(",", sep) + "\n"
                     + "\n".join(sep.join(row) for row in rows),
                     st.sampled_from([",", ";", "\t"]), st.sampled_from(["url,tags", "URL,region", "url", "x,url,y"]),
                     st.lists(st.lists(st.one_of(url, cell), max_size=4), max_size=12))
xml_file = st.builds(lambda root, items: root[0] + "".join(items) + root[1],
                     st.sampled_from([("<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>", "</urlset>"),
                                      ("<rss version='2.0'><channel><title>t</title>", "</channel></rss>"),
                                      ("<feed xmlns='http://www.w3.org/2005/Atom'>", "</feed>"),
                                      ("<sitemapindex>", "</sitemapindex>"), ("<html>", "</html>"), ("<", "")]),
                     st.lists(st.builds(lambda kind, value: kind.replace("{}", value),
                                        st.sampled_from(["<url><loc>{}</loc></url>", "<item><link>{}</link></item>",
                                                         "<item><guid>{}</guid><title>{}</title></item>",
                                                         "<entry><link href='{}'/></entry>", "{}"]),
                                        url), max_size=8))
import_file = st.one_of(text_file, csv_file, xml_file, st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def _read(folder: Path, content: str, encoding: str) -> list | None:
    """The entries of a file with that content, or None when it is refused whole (with one line)."""
    path = folder / "in.txt"
    path.write_bytes(content.encode(encoding, errors="surrogatepass"))
    try:
        _fmt, entries = read_entries(path)
        return list(entries)
    except ImportFormatError as exc:
        assert "\n" not in str(exc)
        return None


@settings(max_examples=4000, **FUZZ)
@given(content=import_file, encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_import_files_of_any_content_are_read_or_refused_in_one_line(folder: Path, content: str,
                                                                     encoding: str) -> None:
    try:
        content.encode(encoding, errors="surrogatepass")
    except UnicodeEncodeError:
        return
    _read(folder, content, encoding)


@pytest.fixture(params=["sqlite", "postgresql"])
def import_workspace(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One database per run of the property, each example in a transaction that is rolled back."""
    tmp = tmp_path_factory.mktemp("fuzz-db")
    url = (f"sqlite:///{tmp / 'fuzz.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    ws = Workspace(make_settings(tmp, database_url=url))
    yield ws
    ws.close()


def test_every_entry_read_goes_in_or_is_refused_alone(import_workspace: Workspace, folder: Path) -> None:
    @settings(max_examples=400, **FUZZ)
    @given(content=st.one_of(text_file, csv_file, xml_file))
    def add(content: str) -> None:
        entries = _read(folder, content, "utf-8")
        if entries is None:
            return
        session = import_workspace.sessions()
        try:
            result = add_sources(session, ensure_collection(session, "fuzz"), entries)
            session.flush()
            assert len(result.added) + len(result.known) + len(result.refused) == len(entries)
            assert all("\n" not in reason for _, reason in result.refused)
        finally:
            session.rollback()
            session.close()

    add()


# ---------------------------------------------------------------------------------------------- API bodies

json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                    st.text(max_size=20), nasty),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=12)
field_value = st.one_of(json_value, url, st.lists(url, max_size=5), st.sampled_from(
    ["99999999d", "30000d", "1h", "0s", "-5m", "99999999999999999999d", "page", "video", "admin", "reader"]))
bodies = {
    "/api/collections/fuzz/sources": st.fixed_dictionaries({}, optional={
        "urls": st.lists(url, max_size=5), "kind": field_value, "tags": st.lists(cell, max_size=3),
        "every": field_value}),
    "/api/webhooks": st.fixed_dictionaries({}, optional={"url": url, "collection": cell, "secret": cell}),
    "/api/tokens": st.fixed_dictionaries({}, optional={"name": cell, "role": field_value}),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    """The API in-process on SQLite, names resolving to a public address (no network), and an admin token."""
    tmp = tmp_path_factory.mktemp("fuzz-api")
    fuzz_settings: Settings = make_settings(tmp, database_url=f"sqlite:///{tmp / 'api.db'}", allow_networks="")
    app = create_app(fuzz_settings, resolve=lambda host: [PUBLIC])
    ws = Workspace(fuzz_settings)
    with session_scope(ws.sessions) as session:
        token = create_token(session, "fuzzer", "admin")
    ws.close()
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, token


@settings(max_examples=3000, **FUZZ)
@given(data=st.data())
def test_api_bodies_of_any_shape_get_an_answer_below_500(client: tuple[TestClient, str], data: st.DataObject) -> None:
    test_client, token = client
    path = data.draw(st.sampled_from(sorted(bodies) + ["/api/collections/fuzz"]))
    body = data.draw(bodies.get(path, st.fixed_dictionaries({}, optional={"description": field_value,
                                                                        "public_read": field_value}))
                     | json_value)
    method = "PATCH" if path == "/api/collections/fuzz" else "POST"
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
    response = test_client.request(method, path, content=raw, headers={"Authorization": f"Bearer {token}",
                                                                       "Content-Type": "application/json"})
    assert response.status_code < 500, (path, body, response.text)
    assert isinstance(response.json(), dict | list)
