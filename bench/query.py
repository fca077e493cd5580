"""Read-side benchmark: lastseen's answers with 1,000,000 sources and 10,000,000 checks in PostgreSQL.

Usage: .venv/bin/python bench/query.py [--sources 1000000] [--checks-per-source 10] [--database-url URL] [--keep]
       [--schema NAME] (a kept schema already filled is reused: the search fill takes minutes)
Fills a fresh schema with COPY (sources in 10 collections, 5% of each vanished; checks spread over a year; one URL
with 1,000 captures; a transition per vanished source), starts `lastseen serve`, and prints p50/p99 (ms) of:
  lastseen status URL (the process beside a plain Python + SQLAlchemy start, and the query inside it),
  GET /api/sources/{id},
  GET /api/sources?collection=C&status=vanished (a page, and paging through all), the TimeMap of the URL
  with 1,000 captures, /metrics, the dashboard's collection page;
and the API server's memory before and after paging through everything (flat is the target).
Targets (issue #14): p99 < 20 ms for one-source reads and a page of a list; < 200 ms for /metrics and the
collection page.

Search (issue #24): `--search-pages 1000000` runs only the search benchmark: that many captured pages' search
documents (a title of 8 and a text of ~300 words drawn with Zipf's law from a synthetic vocabulary of 30,000
words), COPYed, their tsvectors made by PostgreSQL as lastseen makes them, the GIN index built; then p50/p99 of
`lastseen search` for two-word queries (archive.research.search.search: the tsquery in each language the
archive holds, ranking, snippets, the hits' sources) and, in a second pass of the same run, a bare
`SELECT ... WHERE tsv @@ plainto_tsquery(...)` ranked by ts_rank_cd of the same queries, and the ratio.
Target: p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.urls import url_key  # noqa: E402

LASTSEEN = [sys.executable, "-c", "from archive.cli import run; run()"]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLLECTIONS = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)
OUTCOMES = ("ok",) * 17 + ("timeout", "soft_404", "gone")


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: object) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:  # type: ignore[attr-defined]
            copy.write_row(row)


def url_of(n: int) -> str:
    return f"https://news{n % 5000}.example/2026/story-{n}"


def vanished_source(n: int) -> bool:
    """5% of each collection's sources have vanished."""
    return (n // COLLECTIONS) % 20 == 0


def fill(dsn: str, sources: int, checks_per_source: int) -> tuple[str, int]:
    """COPY the rows; the URL with 1,000 captures and the id of one vanished source."""
    import hashlib

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        _copy(conn, "collection", "id, name, description, obey_robots, alert_on_changed, public_read, created_at",
              ((c + 1, f"c{c}", "", True, False, True, T0) for c in range(COLLECTIONS)))

        def source_rows():  # type: ignore[no-untyped-def]
            for n in range(1, sources + 1):
                url = url_of(n)
                vanished = vanished_source(n)
                yield (n, n % COLLECTIONS + 1, url, url, hashlib.sha256(url.encode()).hexdigest(),
                       f"news{n % 5000}.example", "page", T0, "vanished" if vanished else "alive",
                       "gone" if vanished else None, T0 + timedelta(days=300) if vanished else None,
                       T0 + timedelta(days=200), T0 + timedelta(days=364), T0 + timedelta(days=365), 0)

        _copy(conn, "source", "id, collection_id, url, normalized_url, url_hash, domain, kind, added_at, status, "
              "status_reason, vanished_at, last_seen_alive_at, last_checked_at, next_check_at, streak_count",
              source_rows())
        print(f"  {sources:,} sources in {time.perf_counter() - started:.0f} s", flush=True)

        def check_rows():  # type: ignore[no-untyped-def]
            number = 0
            for n in range(1, sources + 1):
                for k in range(checks_per_source):
                    number += 1
                    yield (number, n, T0 + timedelta(hours=(n + k * 877) % 8760), OUTCOMES[(n + k) % 20], 200,
                           "", 12.5)

        _copy(conn, "check_result", "id, source_id, checked_at, outcome, http_status, detail, latency_ms", check_rows())
        print(f"  {sources * checks_per_source:,} checks after {time.perf_counter() - started:.0f} s", flush=True)
        _copy(conn, "status_transition", "id, source_id, at, kind, from_status, to_status, reason, evidence",
              ((k + 1, n, T0 + timedelta(days=300), "vanished", "alive", "vanished", "gone", "[]")
               for k, n in enumerate(n for n in range(1, sources + 1) if vanished_source(n))))
        key = url_key(url_of(1))
        _copy(conn, "capture", "id, source_id, captured_at, url, url_hash, http_status, content_type, payload_sha256, "
              "size, record_type, warc_uri, warc_offset, warc_length",
              ((k + 1, 1, T0 + timedelta(hours=k), url_of(1), key, 200, "text/html", "0" * 64, 1000, "response",
                "file:///nowhere.warc.gz", k * 1000, 1000) for k in range(1000)))
        for table in ("collection", "source", "check_result", "status_transition", "capture"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        print(f"  copied in {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a table at rest: the visibility map, statistics
    print(f"  filled in {time.perf_counter() - started:.0f} s (with VACUUM ANALYZE)", flush=True)
    return url_of(1), 20


def vocabulary(size: int = 30_000) -> list[str]:
    """Made-up words (two to four syllables), the same every run: English stems them as it would real words."""
    import random

    rng = random.Random(24)
    onsets, vowels, codas = "b c d f g h k l m n p r s t v w z br ch cl dr fl gr pl sh st tr".split(), \
        "a e i o u ai ea ou".split(), ["", "", "n", "r", "s", "t", "l", "nd", "st"]
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                      for _ in range(rng.choice((2, 2, 3, 4))))] = None
    return list(words)


def fill_search(dsn: str, pages: int, words: list[str]) -> None:
    """COPY the pages' documents into a staging table, then into search_document with their tsvectors (as
    archive.research.search.index_documents makes them for English), then the GIN index and statistics."""
    import itertools
    import random

    from sqlalchemy.dialects.postgresql import dialect
    from sqlalchemy.schema import CreateIndex

    from archive.models import SearchDocument  # the GIN index as the models (and migration 0026) make it
    from archive.research.search import LEAD_CHARS

    rng = random.Random(7)
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE page_stage (id bigint, title text, body text)")
        _copy(conn, "page_stage", "id, title, body",
              ((n, " ".join(rng.choices(words, cum_weights=weights, k=8)).capitalize(),
                ". ".join(" ".join(rng.choices(words, cum_weights=weights, k=15)) for _ in range(20)) + ".")
               for n in range(1, pages + 1)))
        print(f"  {pages:,} pages' text copied after {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute("DROP INDEX ix_search_document_tsv")
        conn.execute("INSERT INTO search_document (id, key, source_id, kind, language, title, authors, body, "
                     "indexed_at, "
                     "tsv, lead_tsv) "
                     "SELECT id, 'page:' || id, id, 'page', 'en', title, '', body, now(), "
                     "setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', ''), 'B') "
                     "|| setweight(to_tsvector('english', body), 'C'), "
                     "setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', ''), 'B') "
                     f"|| setweight(to_tsvector('english', left(body, {LEAD_CHARS})), 'C') FROM page_stage")
        conn.execute("DROP TABLE page_stage")
        print(f"  tsvectors made after {time.perf_counter() - started:.0f} s", flush=True)
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(str(CreateIndex(next(index for index in SearchDocument.__table__.indexes
                                          if index.name == "ix_search_document_tsv")).compile(dialect=dialect())))
        conn.execute("SELECT setval(pg_get_serial_sequence('search_document', 'id'), "
                     "(SELECT max(id) FROM search_document))")
        conn.execute("VACUUM ANALYZE search_document")
    print(f"  search documents and their GIN index in {time.perf_counter() - started:.0f} s", flush=True)


def run_search(args: argparse.Namespace, env: dict[str, str], plain: str, schema: str) -> None:
    """Fill (sources, then their pages' documents) and time lastseen's search against the bare query."""
    import random

    subprocess.run([*LASTSEEN, "config", "--check"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.search_pages:,} pages", flush=True)
    dsn = f"{plain}?options=-csearch_path%3D{schema}"
    words = vocabulary()
    with psycopg.connect(dsn) as conn:
        filled = conn.execute("SELECT count(*) FROM search_document").fetchone()[0]
    if filled:  # a kept schema (--schema): its pages are reused, the fill takes minutes
        print(f"  reusing schema {schema}: {filled:,} pages already filled", flush=True)
    else:
        fill(dsn, args.search_pages, 0)
        fill_search(dsn, args.search_pages, words)
    from archive.config import load_settings
    from archive.db import session_scope
    from archive.research.search import CANDIDATES, search
    from archive.workspace import Workspace

    rng = random.Random(11)  # two words of the vocabulary, past the 100 commonest, by their frequency
    weights = [1 / rank for rank in range(101, len(words) + 1)]
    queries = [" ".join(rng.choices(words[100:], weights=weights, k=2)) for _ in range(args.queries)]
    ws = Workspace(load_settings(environ=env))
    with session_scope(ws.sessions) as session:  # migrated first: a kept schema's index may be rebuilt (0026)
        search(session, queries[0], limit=20)
    bare_sql = ("SELECT id, ts_rank_cd(tsv, q) AS score FROM search_document, plainto_tsquery('english', %s) q "
                "WHERE tsv @@ q ORDER BY score DESC LIMIT 20")
    ours, bare, hits, capped = [], [], [], 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for query in queries[:5]:  # warm both
            conn.execute(bare_sql, (query,)).fetchall()
            with session_scope(ws.sessions) as session:
                search(session, query, limit=20)
        # One pass each, not interleaved: the bare query ranks every match (up to ~230 MB of tsvectors for two
        # common words, twice the shared buffers), so run between ours it timed its own cache churn in ours.
        for query in queries:
            started = time.perf_counter()
            with session_scope(ws.sessions) as session:
                found = search(session, query, limit=20)
            ours.append((time.perf_counter() - started) * 1000)
            hits.append(len(found))
            capped += found.note is not None
        for query in queries:
            started = time.perf_counter()
            conn.execute(bare_sql, (query,)).fetchall()
            bare.append((time.perf_counter() - started) * 1000)
    ws.close()
    print(f"{'lastseen search, two words':34}{percentiles(ours)}  ({sum(h > 0 for h in hits)} of {len(hits)} "
          f"queries with hits, {capped} ranked {CANDIDATES:,} of their matches, the newest)")
    print(f"{'bare tsv @@ plainto_tsquery':34}{percentiles(bare)}")
    ordered_ours, ordered_bare = sorted(ours), sorted(bare)
    p99 = min(len(ours) - 1, int(len(ours) * 0.99))
    print(f"ratio lastseen/bare: p50 {statistics.median(ours) / statistics.median(bare):.2f}, "
          f"p99 {ordered_ours[p99] / ordered_bare[p99]:.2f}")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms  (n={len(ordered)})"


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) a process has used, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--checks-per-source", type=int, default=10)
    parser.add_argument("--database-url", default=os.environ.get("LASTSEEN_TEST_POSTGRES", POSTGRES))
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument("--schema", help="use this schema (made if missing; a filled one is reused) and keep it")
    parser.add_argument("--search-pages", type=int, default=0,
                        help="only the search benchmark, with this many captured pages (target size: 1000000)")
    parser.add_argument("--queries", type=int, default=300, help="two-word queries timed (search benchmark)")
    args = parser.parse_args()
    plain = args.database_url.replace("+psycopg", "")
    schema = args.schema or f"bench_{uuid.uuid4().hex[:10]}"
    args.keep = args.keep or bool(args.schema)
    print(f"schema {schema}", flush=True)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    with TemporaryDirectory() as tmp:
        env = {**os.environ, "LASTSEEN_DATABASE_URL": url, "LASTSEEN_DATA_DIR": tmp}
        try:
            (run_search if args.search_pages else run)(args, env, plain, schema)
        finally:
            if not args.keep:
                with psycopg.connect(plain, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(args: argparse.Namespace, env: dict[str, str], plain: str, schema: str) -> None:
    subprocess.run([*LASTSEEN, "config", "--check"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.sources:,} sources", flush=True)
    print(f"filling schema {schema} ...", flush=True)
    many_url, _ = fill(f"{plain}?options=-csearch_path%3D{schema}", args.sources, args.checks_per_source)
    token = subprocess.run([*LASTSEEN, "token", "create", "bench", "--role", "admin"], env=env, check=True,
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()

    probe = args.sources // 2 + 1
    samples = timed(lambda: subprocess.run([*LASTSEEN, "status", url_of(probe), "--json"], env=env, check=True,
                                           stdout=subprocess.DEVNULL, cwd=ROOT), 20)
    print(f"{'lastseen status URL (process)':34}{percentiles(samples)}")
    # The plain floor: a Python process that only loads the database layer every read command needs (issue #26:
    # target < 300 ms for the whole command); the ratio is what lastseen's own start adds.
    plain_start = timed(lambda: subprocess.run([sys.executable, "-c", "import sqlalchemy.orm, psycopg"], check=True,
                                               cwd=ROOT), 20)
    print(f"{'python + SQLAlchemy (plain)':34}{percentiles(plain_start)}  status/plain "
          f"{statistics.median(samples) / statistics.median(plain_start):.2f}")
    from archive.config import load_settings
    from archive.db import session_scope
    from archive.report import source_detail
    from archive.sources import find_sources
    from archive.workspace import Workspace

    ws = Workspace(load_settings(environ=env))
    def status_query() -> None:
        with session_scope(ws.sessions) as session:
            [source_detail(session, s) for s in find_sources(session, url_of(probe))]
    timed(status_query, 5)
    print(f"{'lastseen status URL (query)':34}{percentiles(timed(status_query, 200))}")
    ws.close()

    port = free_port()
    server = subprocess.Popen([*LASTSEEN, "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        for _ in range(100):
            try:
                if http.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        get = lambda path: http.get(base + path, timeout=60).raise_for_status()  # noqa: E731

        def measure(label: str, fn, n: int) -> None:  # type: ignore[no-untyped-def]
            """p50/p99 of n calls, and the API process's CPU per call (what contention on the machine leaves out)."""
            fn()
            used = cpu_ms(server.pid)
            samples = timed(fn, n)
            print(f"{label:34}{percentiles(samples)}  API CPU {(cpu_ms(server.pid) - used) / n:5.1f} ms/request",
                  flush=True)

        ids = iter([1 + (k * 7919) % args.sources for k in range(400)])
        measure("GET /api/sources/{id}", lambda: get(f"/api/sources/{next(ids)}"), 200)
        page = "/api/sources?collection=c3&status=vanished&limit=100"
        measure("GET /api/sources (first page)", lambda: get(page), 100)
        before = rss_mb(server.pid)
        cursor, pages, page_times = None, 0, []
        used = cpu_ms(server.pid)
        while True:
            started = time.perf_counter()
            data = http.get(base + page + (f"&cursor={cursor}" if cursor else ""), timeout=60).json()
            page_times.append((time.perf_counter() - started) * 1000)
            pages += 1
            cursor = data["next_cursor"]
            if not cursor:
                break
        print(f"{f'GET /api/sources (all {pages} pages)':34}{percentiles(page_times)}  API CPU "
              f"{(cpu_ms(server.pid) - used) / pages:5.1f} ms/request")
        timemap = f"/api/timemap/link/{many_url}"
        measure("TimeMap, 1,000 captures", lambda: get(timemap), 50)
        measure("GET /metrics", lambda: get("/metrics"), 50)
        measure("dashboard collection page", lambda: get("/collections/c3"), 50)
        export = http.get(f"{base}/api/sources/export?collection=c3&format=csv", timeout=600, stream=True)
        size = sum(len(chunk) for chunk in export.iter_content(1 << 16))
        after = rss_mb(server.pid)
        print(f"API memory: {before:.0f} MB before paging, {after:.0f} MB after paging and a {size / 1e6:.0f} MB "
              "CSV export")
    finally:
        server.terminate()
        server.wait()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
