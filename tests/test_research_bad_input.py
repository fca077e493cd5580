"""Bad input to search, timeline and diff, on SQLite (FTS5) and PostgreSQL (tsquery): the search engines' own
syntax never reaches them (a query is its words), a date that is none is one line (exit 2, or a 422), never a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from archive.config import Settings
from archive.db import session_scope
from archive.research.search import Document, index_documents
from archive.sources import SourceEntry, add_sources, ensure_collection
from archive.workspace import Workspace

URL = "https://news.example/flood"
# What FTS5's query syntax (quotes, *, NEAR, -, column filters, ^) and tsquery's (& | ! <-> :* parentheses and
# quotes) would read as operators or reject, each around the word "river" the page holds.
SYNTAX = ['"river', 'river"', "river*", "-river", "title:river", "body: river", "NEAR(", "NEAR(river",
          "NEAR(river bridge)", "^river", "river AND", "OR river", "NOT river", "river & !bridge", "river | x",
          "!river", "river <-> bridge", "river:*", "'river'",
          "(river", "river)", "river\\", "{river}", "river+bridge", "río river", "river;--"]
BODY = "The river rose near the old bridge and did not stop, or so the title of the story says."
NO_WORDS = ['"', "*", "(", "-", ":", "'", "&", "|", "!", "<->", "()", ":*", "\\", '""', "-- ;", "___", "​"]
BAD_MOMENTS = ["soon", "2026-02-30", "2026-13-01", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00+01:00",
               "99999999999999", "2026-01-05T25:00", "+10000-01-01", "١٢٣٤-٠١-٠٥"]


@pytest.fixture
def indexed(settings: Settings) -> int:
    """A page about a river in the collection flood, indexed for search; its source id."""
    ws = Workspace(settings)
    try:
        with session_scope(ws.sessions) as session:
            [page] = add_sources(session, ensure_collection(session, "flood"), [SourceEntry(URL)]).added
            index_documents(session, [Document("page:1", page.id, "page", title="Flood in the valley",
                                               body=BODY, language="en")])
            return page.id
    finally:
        ws.close()


def _one_line(err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_search_syntax_never_reaches_the_engine(indexed: int, run: Any, api: Any) -> None:
    for query in SYNTAX:
        code, out, err = run("search", "--json", "--", query)  # "--": -river is a word, not an option
        assert code == 0, (query, err)
        answer = api.get("/api/search", params={"q": query})
        assert answer.status_code == 200, (query, answer.text)
        assert json.loads(out)["hits"] == answer.json()["hits"], query
        if set(re.findall(r"[a-z]+", query.lower())) <= set(re.findall(r"[a-z]+", BODY.lower())):
            assert [hit["source_id"] for hit in answer.json()["hits"]] == [indexed], query
    for query in NO_WORDS:
        code, out, err = run("search", "--", query)
        assert code == 0 and out.startswith("0 hit(s)") and "nothing to search for" in out, (query, err)
        answer = api.get("/api/search", params={"q": query})
        assert answer.status_code == 200 and answer.json()["hits"] == [] and answer.json()["note"], query


def test_a_long_query_is_refused_in_one_line(indexed: int, run: Any, api: Any) -> None:
    words = ["river"] * 10_000
    code, out, err = run("search", *words)
    assert code == 2 and out == "" and "at most" in err
    _one_line(err)
    code, _, err = run("search", *(["river"] * 33))
    assert code == 2 and "at most 32" in err
    assert api.get("/api/search", params={"q": " ".join(words)}).status_code in (414, 422)
    answer = api.get("/api/search", params={"q": " ".join(["river"] * 33)})
    assert answer.status_code == 422 and "at most 32" in answer.json()["message"]


def test_a_moment_that_is_no_date_is_one_line(indexed: int, run: Any, api: Any) -> None:
    for moment in BAD_MOMENTS:
        code, out, err = run("timeline", "-c", "flood", "--as-of", moment)
        assert code == 2 and out == "" and "--as-of" in err, (moment, err)
        _one_line(err)
        code, out, err = run("diff", URL, "--to", moment)
        assert code == 2 and out == "", (moment, err)
        _one_line(err)
        answer = api.get("/api/collections/flood/timeline", params={"as_of": moment})
        assert answer.status_code == 422 and "not a date" in answer.json()["message"], moment
        assert api.get(f"/api/sources/{indexed}/diff", params={"from": moment}).status_code == 422, moment
    for moment in ("9999-12-31T23:59:59Z", "0001-01-01", "20260105120000"):  # far but real moments are answered
        code, out, err = run("timeline", "-c", "flood", "--as-of", moment, "--json")
        assert code == 0 and json.loads(out)["counts"]["unknown"] + json.loads(out)["counts"]["not_yet_known"] == 1
        assert api.get("/api/collections/flood/timeline", params={"as_of": moment}).status_code == 200
