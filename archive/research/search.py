"""Search over the archive: page text, titles and authors, video titles, uploaders and descriptions.

Producers hand `index_documents` a Document each (the crawl's description of a page, a video's metadata, and any
later producer such as transcripts), under a key of their own so indexing again replaces. PostgreSQL matches a
weighted tsvector in the document's language through a GIN index; SQLite matches the FTS5 table search_fts
(migration 0018). A query is bounded: at most MAX_WORDS words, no more than MAX_LIMIT hits, each with a snippet and
the capture it links to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSQUERY, array
from sqlalchemy.orm import Session

from archive.models import Capture, Collection, SearchDocument, Source, bucket_of, search_bucket
from archive.timefmt import iso

MAX_WORDS, MAX_CHARS, MAX_LIMIT, DEFAULT_LIMIT = 32, 1000, 100, 20
MAX_TEXT = 1_000_000  # characters of one document kept for search
# PostgreSQL ranks at most this many matches, the newest first (models.SEARCH_BUCKET): two common words
# can match a hundred thousand pages, and ranking each reads its tsvector; a hit list says when it was capped.
CANDIDATES = 500
# A snippet is made from this many characters of a text (ts_headline stems every word it parses, the costliest
# part of a search), from a little before the first place one of the query's first SNIPPET_WORDS words is
# written as typed, looked for in the first SNIPPET_SCAN characters; else from the start.
SNIPPET_CHARS, SNIPPET_BEFORE, SNIPPET_WORDS, SNIPPET_SCAN = 1000, 200, 3, 20_000
# PostgreSQL ranks by a document's title, authors and this many characters of its text (lead_tsv, kept in the row):
# ranking by the whole TOASTed vector read it back for every candidate, most of a search's time.
LEAD_CHARS = 600
# A document's language (ISO 639-1, as pages and providers say it) -> PostgreSQL's text-search configuration.
CONFIGS = {"en": "english", "ru": "russian", "ar": "arabic", "de": "german", "fr": "french", "es": "spanish",
           "it": "italian", "pt": "portuguese", "tr": "turkish", "nl": "dutch", "el": "greek", "hy": "armenian"}
SIMPLE = "simple"  # unknown languages, Ukrainian and Kazakh (no stemmer in PostgreSQL): words as written
MARK = "**"  # around the matched words of a snippet
# What a hit needs of its document (not the text, nor the tsvector).
_HIT_COLUMNS = (SearchDocument.source_id, SearchDocument.kind, SearchDocument.title, SearchDocument.authors,
                SearchDocument.language, SearchDocument.second)
_WORD = re.compile(r"[^\W_]+")  # letters and digits, as FTS5's unicode61 and PostgreSQL's parser split words


class QueryError(ValueError):
    """A query that cannot be searched for, said in one line."""


class Hits(list[dict[str, Any]]):
    """A search's hits, best first; `note` says when only the first CANDIDATES matches were ranked."""

    note: str | None = None


class NothingToSearch(QueryError):
    """A query with no word to look for (only symbols, or only common words): no hits, and this note says why."""


@dataclass(frozen=True)
class Document:
    """One searchable text; `key` names it for its producer ("page:<capture id>", "video:<source id>")."""

    key: str
    source_id: int
    kind: str
    title: str = ""
    authors: str = ""
    body: str = ""
    language: str | None = None
    capture_id: int | None = None
    second: float | None = None  # where in the capture's video the text is said or shown


def language_of(value: str | None) -> str | None:
    """"en-GB", "ru_RU", "EN" -> "en"; None for nothing usable."""
    code = (value or "").strip().lower().replace("_", "-").split("-")[0]
    return code if 2 <= len(code) <= 3 and code.isalpha() else None


def page_document(capture_id: int, source_id: int, meta: dict[str, Any]) -> Document | None:
    """A described page (archive.extract.pagemeta's fields, the main text included) as a document; None when
    it says nothing searchable."""
    authors = meta.get("authors") or []
    doc = Document(key=f"page:{capture_id}", source_id=source_id, kind="page", capture_id=capture_id,
                   title=str(meta.get("title") or ""), body=str(meta.get("text") or meta.get("description") or ""),
                   authors=", ".join(str(a) for a in authors) if isinstance(authors, list) else str(authors),
                   language=language_of(meta.get("language")))
    return doc if (doc.title or doc.body or doc.authors).strip() else None


def video_document(source_id: int, info: dict[str, Any]) -> Document:
    """A video's metadata (yt-dlp's info or oEmbed's answer) as a document."""
    uploader = [str(info[k]) for k in ("uploader", "channel", "author_name") if info.get(k)]
    return Document(key=f"video:{source_id}", source_id=source_id, kind="video", title=str(info.get("title") or ""),
                    authors=", ".join(dict.fromkeys(uploader)), body=str(info.get("description") or ""),
                    language=language_of(info.get("language")))


def index_documents(session: Session, documents: Iterable[Document]) -> int:
    """Store these documents for search, each replacing an earlier one of its key; how many were stored."""
    postgres = session.get_bind().dialect.name == "postgresql"
    count = 0
    for doc in documents:
        values = {"key": doc.key[:200], "source_id": doc.source_id, "capture_id": doc.capture_id, "kind": doc.kind,
                  "language": doc.language, "title": _clean(doc.title), "authors": _clean(doc.authors),
                  "body": _clean(doc.body), "second": doc.second}
        session.execute(delete(SearchDocument).where(SearchDocument.key == values["key"]))
        statement = insert(SearchDocument).values(**values)
        if postgres:
            config = cast(literal(CONFIGS.get(doc.language or "", SIMPLE)), REGCONFIG)
            statement = statement.values(tsv=_weighted(config, values["title"], values["authors"], values["body"]),
                                         lead_tsv=_weighted(config, values["title"], values["authors"],
                                                            values["body"][:LEAD_CHARS]))
        session.execute(statement)
        count += 1
    return count


def _config_of(language: Any) -> Any:
    """The text-search configuration of a document's language (a column), as index_documents chose it."""
    return case(*((language == code, cast(literal(name), REGCONFIG)) for code, name in CONFIGS.items()),
                else_=cast(literal(SIMPLE), REGCONFIG))


def _weighted(config: Any, title: Any, authors: Any, body: Any) -> Any:
    """A document's tsvector: the title weighs most (A), then the authors (B), then the text (C)."""
    parts = [func.setweight(func.to_tsvector(config, value), literal_column(f"'{weight}'"))
             for value, weight in ((title, "A"), (authors, "B"), (body, "C"))]
    return parts[0].op("||")(parts[1]).op("||")(parts[2])


def fill_leads(session: Session, collections: Sequence[int] | None, after: int, batch: int) -> list[int]:
    """Give up to `batch` documents indexed before lead_tsv existed (migration 0026) their lead, made from their
    stored text in their language, in id order after `after`; the ids done (none left: empty). SQLite ranks
    with FTS5 and has no leads to fill."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    document = SearchDocument.__table__
    todo = _in_collections(select(document.c.id).where(document.c.lead_tsv.is_(None), document.c.id > after),
                           collections).order_by(document.c.id).limit(batch).scalar_subquery()
    lead = _weighted(_config_of(document.c.language), document.c.title, document.c.authors,
                     func.left(document.c.body, LEAD_CHARS))
    return list(session.execute(update(document).where(document.c.id.in_(todo)).values(lead_tsv=lead)
                                .returning(document.c.id)).scalars())


def forget_documents(session: Session, source_id: int, prefix: str) -> int:
    """Drop a source's documents whose key starts with `prefix` (a producer's set it indexes again); how many.
    Found through the source's index, so a large archive is not scanned."""
    return session.execute(delete(SearchDocument).where(
        SearchDocument.source_id == source_id, SearchDocument.key.startswith(prefix, autoescape=True))).rowcount or 0


def _clean(value: str) -> str:
    """Text as PostgreSQL stores it (no NUL characters), at most MAX_TEXT characters."""
    return value[:MAX_TEXT].replace("\x00", "")


def query_words(query: str) -> list[str]:
    """The words of a query (what the search engines' own syntax would read as operators is dropped: quotes,
    *, -, :, parentheses); QueryError for one too long, NothingToSearch for one with no words at all."""
    if len(query) > MAX_CHARS:
        raise QueryError(f"the query is {len(query)} characters long: at most {MAX_CHARS}")
    words = _WORD.findall(query)
    if len(words) > MAX_WORDS:
        raise QueryError(f"the query has {len(words)} words: at most {MAX_WORDS}")
    if not words:
        raise NothingToSearch("nothing to search for: the query has no words, only symbols or spaces")
    return words


def search(session: Session, query: str, *, collections: Sequence[int] | None = None,
           limit: int = DEFAULT_LIMIT) -> Hits:
    """The best hits for all the query's words (title first, then authors, then text), each with a snippet and
    the capture it links to; collections: only these collections' sources (None: all). On PostgreSQL, when more
    than CANDIDATES pages match, the hits are the best of the first CANDIDATES and their `note` says so."""
    words = query_words(query)
    limit = max(1, min(limit, MAX_LIMIT))
    if session.get_bind().dialect.name == "postgresql":
        rows = _postgres(session, words, collections, limit)
    else:
        rows = _sqlite(session, words, collections, limit)
    return _hits(rows)


def configs_in_use(session: Session) -> list[str]:
    """The text-search configurations the archive's documents were indexed in (a document only matches its own
    language's reading of a query): the languages found by a skip scan of their index, one probe each."""
    found = session.execute(text(
        "WITH RECURSIVE used(language) AS ((SELECT language FROM search_document WHERE language IS NOT NULL "
        "ORDER BY language LIMIT 1) UNION ALL SELECT (SELECT d.language FROM search_document d "
        "WHERE d.language > used.language ORDER BY d.language LIMIT 1) FROM used WHERE used.language IS NOT NULL) "
        "SELECT language FROM used WHERE language IS NOT NULL UNION ALL "
        "SELECT NULL WHERE EXISTS (SELECT 1 FROM search_document WHERE language IS NULL)")).scalars()
    return sorted({CONFIGS.get(language or "", SIMPLE) for language in found})


def _query() -> Any:
    """The words (bind parameter `words`) as each language in use (`configs`) reads them, each distinct reading
    once, OR-ed into one tsquery made once per statement (a MATERIALIZED CTE that the GIN index, ranking and
    snippets share: both costs grow with the query's terms), and whether English or Russian drops them all as
    common words."""
    readings = text(
        "SELECT CAST(string_agg(DISTINCT '( ' || CAST(r AS text) || ' )', ' | ') "
        "FILTER (WHERE numnode(r) > 0 AND c = ANY(:configs)) AS tsquery) AS tsq, "
        "bool_or(numnode(r) = 0 AND c IN ('english', 'russian')) AS common FROM (SELECT c, "
        "plainto_tsquery(CAST(c AS regconfig), :words) AS r FROM unnest(:configs || :common) AS c) AS readings"
    ).bindparams(bindparam("words", type_=Text), bindparam("configs", type_=ARRAY(Text)),
                 bindparam("common", ["english", "russian"], type_=ARRAY(Text)))
    return readings.columns(tsq=TSQUERY, common=Boolean).cte("q").prefix_with("MATERIALIZED")


def _postgres(session: Session, words: list[str], collections: Sequence[int] | None, limit: int) -> list[Any]:
    """The search statement run with this query's words; NothingToSearch when the words are all common."""
    shown = [word.lower() for word in words[:SNIPPET_WORDS]]
    statement, common = _statements(len(shown), collections is not None)
    values: dict[str, Any] = {"words": " ".join(words), "configs": configs_in_use(session), "limit": limit,
                              "cap": CANDIDATES + 1,
                              "collections": list(collections or ()), **{f"w{n}": w for n, w in enumerate(shown)}}
    rows = list(session.execute(statement, values))
    if not rows and session.execute(common, values).scalar():
        raise NothingToSearch("nothing to search for: only common words (like 'the', 'and', 'of')")
    return rows


@functools.lru_cache(maxsize=2 * SNIPPET_WORDS)
def _statements(shown: int, in_collections: bool) -> tuple[Any, Any]:
    """One statement, built once for each shape: the matches of the newest bucket, of the one before, then of all
    older ones, read no further than CANDIDATES + 1 (bounded work however common the words), the best `limit` of the
    first CANDIDATES by ts_rank_cd of their leads, their snippets (ts_headline over SNIPPET_CHARS of the text
    where the words w0.. are) and sources; and the statement that says whether the words were all common."""
    q = _query()
    document = SearchDocument.__table__
    newest = bucket_of(select(func.max(document.c.id)).scalar_subquery())
    ranked = func.coalesce(document.c.lead_tsv, document.c.tsv).label("ranked")  # none: indexed before 0026
    parts = [_in_collections(select(document.c.id, ranked).select_from(document.join(q, true())).where(
        where, document.c.tsv.op("@@")(q.c.tsq), ~q.c.common),
        bindparam("collections", expanding=True) if in_collections else None).offset(0)
        for where in (search_bucket(document.c.id).op("@>")(array([newest])),  # the newest bucket's postings,
                      search_bucket(document.c.id).op("@>")(array([newest - 1])),  # the one before (full)
                      bucket_of(document.c.id) < newest - 1)]  # then all older
    found = union_all(*parts).subquery("found")  # read in this order, and no further than the LIMIT
    candidates = (select(found.c.id, func.ts_rank_cd(found.c.ranked, q.c.tsq).label("score"),
                         func.row_number().over().label("n"))
                  .select_from(found.join(q, true())).limit(bindparam("cap")).cte("candidates"))
    top = (select(candidates.c.id, candidates.c.score).where(candidates.c.n < bindparam("cap"))
           .order_by(candidates.c.score.desc(), candidates.c.id).limit(bindparam("limit")).subquery())
    config = _config_of(SearchDocument.language)
    window = _snippet_window(func.coalesce(func.nullif(SearchDocument.body, ""), SearchDocument.title), shown)
    headline = func.ts_headline(config, window, q.c.tsq, f"MaxWords=30, MinWords=12, StartSel={MARK}, StopSel={MARK}")
    matches = select(func.count()).select_from(candidates).scalar_subquery()
    statement = (_with_sources(select(*_HIT_COLUMNS, top.c.score, headline.label("snippet"), matches.label("matches"))
                               .join(top, top.c.id == SearchDocument.id).join(q, true()))
                 .order_by(top.c.score.desc(), SearchDocument.id))
    return statement, select(q.c.common)


def _snippet_window(whole: Any, shown: int) -> Any:
    """SNIPPET_CHARS of the text from SNIPPET_BEFORE characters before the first of the query's first words
    (bind parameters w0.., lower case) written in it (a match deep in a long text still gets its snippet); from
    its start when none is written as typed."""
    scanned = func.lower(func.left(whole, SNIPPET_SCAN))
    found = [func.nullif(func.strpos(scanned, bindparam(f"w{n}", type_=Text)), 0) for n in range(shown)]
    first = func.coalesce(func.least(*found) if len(found) > 1 else found[0], 1)
    return func.substr(whole, func.greatest(first - SNIPPET_BEFORE, 1), SNIPPET_CHARS)


def _sqlite(session: Session, words: list[str], collections: Sequence[int] | None, limit: int) -> list[Any]:
    """FTS5: every word as a quoted token (no operator reaches it), ranked by BM25 weighting titles most."""
    match = " ".join(f'"{word}"' for word in words)
    fts = text("SELECT rowid AS id, bm25(search_fts, 10.0, 5.0, 1.0) AS score, "
               f"snippet(search_fts, -1, '{MARK}', '{MARK}', '…', 24) AS snippet FROM search_fts "
               "WHERE search_fts MATCH :match").columns(id=BigInteger, score=Float, snippet=Text).subquery()
    statement = _with_sources(select(*_HIT_COLUMNS, (-fts.c.score).label("score"), fts.c.snippet).join(
        fts, fts.c.id == SearchDocument.id))
    statement = _in_collections(statement, collections).order_by(fts.c.score, SearchDocument.id).limit(limit)
    return list(session.execute(statement, {"match": match}))


def _with_sources(statement: Any) -> Any:
    """The hits' URLs, collections and linked captures in the same statement (no round trip each): a document
    without a capture of its own (a video's) links to its source's latest capture."""
    latest = (select(Capture.id).where(Capture.source_id == SearchDocument.source_id).correlate(SearchDocument)
              .order_by(Capture.captured_at.desc(), Capture.id.desc()).limit(1).scalar_subquery())
    return (statement.add_columns(Source.url, Collection.name.label("collection"), Capture.id.label("linked"),
                                  Capture.captured_at.label("captured_at"))
            .join(Source, Source.id == SearchDocument.source_id).join(Collection, Collection.id == Source.collection_id)
            .outerjoin(Capture, Capture.id == func.coalesce(SearchDocument.capture_id, latest)))


def _in_collections(statement: Any, collections: Any) -> Any:
    """Only the documents of these collections' sources (ids, or an expanding bind parameter); None: all."""
    if collections is None:
        return statement
    return statement.where(SearchDocument.source_id.in_(
        select(Source.id).where(Source.collection_id.in_(collections))))


def _hits(rows: list[Any]) -> Hits:
    """Rows as hits with the capture each links to; a note when only the first CANDIDATES matches were ranked."""
    hits = Hits()
    if rows and getattr(rows[0], "matches", 0) > CANDIDATES:
        hits.note = f"the best of {CANDIDATES:,} matches, the most recently indexed first (more pages hold these words)"
    for row in rows:
        at = f"#t={row.second:g}" if row.second is not None else ""  # a media fragment: play from that second
        hits.append({"source_id": row.source_id, "url": row.url, "collection": row.collection, "kind": row.kind,
                     "title": row.title or None, "authors": row.authors or None, "language": row.language,
                     "capture_id": row.linked, "captured_at": iso(row.captured_at),
                     "capture_url": f"/api/captures/{row.linked}{at}" if row.linked else None, "second": row.second,
                     "snippet": " ".join((row.snippet or "").split()), "score": round(float(row.score), 4)})
    return hits
