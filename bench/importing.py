"""Import benchmark: `lastseen import` of a large text file and a large sitemap into PostgreSQL.

Usage: .venv/bin/python bench/importing.py [--lines 1000000] [--sitemap 100000] [--database-url URL]
Prints, for each file, URLs per second and the import's peak memory (its maximum resident set). Memory should
be flat in the file's size, so the text file is also imported at a tenth of its size, side by side.
Target (issue #11): thousands of URLs a second on PostgreSQL, memory flat.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LASTSEEN = [sys.executable, "-c", "from archive.cli import run; run()"]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def write_text(path: Path, lines: int) -> None:
    """A text file of distinct news-like URLs."""
    with path.open("w") as f:
        for n in range(lines):
            f.write(f"https://news{n % 997}.example/2026/11/story-{n}?id={n}\n")


def write_sitemap(path: Path, urls: int) -> None:
    """A sitemap of distinct URLs."""
    with path.open("w") as f:
        f.write("<?xml version='1.0' encoding='UTF-8'?>\n<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>\n")
        for n in range(urls):
            f.write(f"<url><loc>https://site.example/a/{n}.html</loc><lastmod>2026-11-01</lastmod></url>\n")
        f.write("</urlset>\n")


def schema_url(base: str) -> tuple[str, str]:
    """A fresh schema in the benchmark database, so runs never see each other's rows."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"{base}?options=-csearch_path%3D{schema}"


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def timed_import(path: Path, count: int, database_url: str, data_dir: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `lastseen import` child."""
    env = {**os.environ, "LASTSEEN_DATABASE_URL": database_url, "LASTSEEN_DATA_DIR": str(data_dir)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([*LASTSEEN, "import", str(path), "-c", f"bench{count}"], env=env, cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"import failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--sitemap", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("LASTSEEN_TEST_POSTGRES", POSTGRES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [("text", args.lines // 10, write_text), ("text", args.lines, write_text),
                ("sitemap", args.sitemap, write_sitemap)]
        for kind, count, write in runs:
            path = folder / f"{kind}-{count}.{'xml' if kind == 'sitemap' else 'txt'}"
            write(path, count)
            schema, url = schema_url(args.database_url)
            try:
                seconds, peak = timed_import(path, count, url, folder / "data")
            finally:
                drop_schema(args.database_url, schema)
            print(f"{kind:8} {count:>9,} URLs  {seconds:7.1f} s  {count / seconds:8,.0f} URLs/s  "
                  f"peak RSS of the run so far {peak:6.0f} MB")


if __name__ == "__main__":
    main()
