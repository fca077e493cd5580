"""Footage benchmark: how robust the frame fingerprints are, what hashing costs, and how fast a query answers.

Usage: .venv/bin/python bench/footage.py [--clips 46] [--hashes 1000000,10000000] [--database-url URL]
- Robustness: unrelated clips made with ffmpeg's lavfi sources (nothing downloaded); three of them get ten
  altered copies each (160p, crops of 2% and 10%, an 18% banner, a logo, mirrored, rotated 90 degrees, padded
  with black bars, an 8 s excerpt, sped up 1.25x). Prints recall per variant (the original found, holding at
  least 80% of the copy's frames) and false matches among every ordered pair of unrelated clips.
- Throughput: frames hashed per second of CPU against PyAV decoding and scaling the same frames alone, in one
  run; the ratio is hashing's extra cost per frame over decoding's (target: at most 1).
- Query latency: an image query (eight orientations and the top part) and a 60 s video query against N
  synthetic hashes (filled by COPY into PostgreSQL, the FAISS index built from numpy), p50/p99 per path: the
  FAISS index on disk (with its hits read back from the table), PostgreSQL's exact bit_count scan, and a bare
  numpy scan in memory as the plain baseline (target: p99 < 100 ms for an image at 10M).
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.footage.frames import Limits, sample  # noqa: E402
from archive.footage.hashes import MATCH_BITS, as_words, distances  # noqa: E402
from archive.footage.match import Hit, score  # noqa: E402
from archive.footage.prints import hash_file  # noqa: E402
from archive.footage.similar import picture_hashes, video_queries  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
SIZE, RATE, SECONDS = "480x270", 15, 10
VARIANTS = {
    "160p": ["-vf", "scale=-2:160"],
    "crop 2%": ["-vf", "crop=iw*0.96:ih*0.96"],
    "crop 10%": ["-vf", "crop=iw*0.8:ih*0.8"],
    "banner 18%": ["-vf", "drawbox=x=0:y=ih*0.82:w=iw:h=ih*0.18:color=navy:t=fill"],
    "logo": ["-vf", "drawbox=x=iw*0.04:y=ih*0.05:w=iw*0.15:h=ih*0.12:color=red@0.9:t=fill"],
    "mirrored": ["-vf", "hflip"],
    "rotated 90": ["-vf", "transpose=1"],
    "black bars": ["-vf", "pad=iw:iw*16/9:0:(oh-ih)/2:black"],
    "8 s excerpt": ["-ss", "1", "-t", "8"],
    "sped up 1.25x": ["-vf", "setpts=PTS/1.25"],
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=300)


# Regions of the Mandelbrot set far apart from each other: each zoom is footage of its own.
REGIONS = ((-0.743643887, 0.131825904), (-0.1011, 0.9563), (-1.25066, 0.02012), (0.2549, 0.0005),
           (-1.7497, 0.0), (-0.16, 1.0405), (0.37500012, -0.21663938), (-0.8, 0.156), (-1.3, 0.06),
           (-0.235125, 0.827215), (0.001643721971153, -0.822467633298876), (0.2821, 0.01))


def sources(count: int) -> list[str]:
    """`count` different lavfi pictures: fractal zooms in far-apart regions first, then fractals, cellular
    automata and gradients at varied seeds."""
    made = [f"mandelbrot=s={SIZE}:r={RATE}:start_x={x}:start_y={y}:start_scale=0.2" for x, y in REGIONS]
    for k in itertools.count():
        if len(made) >= count:
            return made[:count]
        made += [f"sierpinski=s={SIZE}:r={RATE}:seed={k + 1}:jump={k % 50 + 50}",
                 f"life=s={SIZE}:r={RATE}:seed={k + 1}:ratio=0.{k % 8 + 1}:mold=5",
                 f"cellauto=s={SIZE}:r={RATE}:rule={30 + k * 7}:seed={k + 1}",
                 f"gradients=s={SIZE}:r={RATE}:seed={k + 1}:speed=0.0{k % 9 + 1}"]
    return made


def make_clips(folder: Path, count: int) -> list[Path]:
    clips = []
    for i, source in enumerate(sources(count)):
        path = folder / f"clip{i}.mp4"
        ffmpeg("-f", "lavfi", "-i", source, "-t", str(SECONDS), "-pix_fmt", "yuv420p", "-preset", "ultrafast",
               str(path))
        clips.append(path)
    return clips


def matches(query: list[tuple[float, bytes]], table: np.ndarray, seconds: list[float]) -> float:
    """The share of the query's frames the archived clip holds (0 when below the 80% rule)."""
    if not query or table.size == 0:
        return 0.0
    found = distances(as_words([h for _, h in query]), table)
    hits = [Hit(query[q][0], 1, seconds[r], int(found[q, r])) for q, r in zip(*np.nonzero(found <= MATCH_BITS),
                                                                                 strict=True)]
    scored = score(hits, len({s for s, _ in query}), 0.8)
    return scored[0].share if scored else 0.0


def robustness(folder: Path, count: int) -> None:
    clips = make_clips(folder, count)
    archived = [hash_file(clip, 2.0, Limits()) for clip in clips]
    tables = [(as_words([f.hash for f in frames]), [f.second for f in frames]) for frames in archived]
    print(f"robustness: {len(clips)} clips ({SIZE}, {SECONDS} s), query 1 frame/s, archive 2 frames/s")
    for name, filters in VARIANTS.items():
        found, shares = 0, []
        for i in range(3):
            copy = folder / f"v{i}.mp4"
            ffmpeg("-i", str(clips[i]), *filters, "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(copy))
            share = matches(video_queries(copy, 1.0, Limits()), *tables[i])
            found += share > 0
            shares.append(share)
        print(f"  {name:14s} found {found}/3  shares {', '.join(f'{s:.0%}' for s in shares)}")
    queries = [video_queries(clip, 1.0, Limits()) for clip in clips]
    pairs = [(i, j) for i in range(len(clips)) for j in range(len(clips)) if i != j]
    false = [(i, j) for i, j in pairs if matches(queries[i], *tables[j]) > 0]
    print(f"  false matches among {len(pairs)} ordered pairs of unrelated clips: {len(false)}")
    names = sources(count)
    for i, j in false:
        print(f"    {names[i]}  ~  {names[j]}")


def throughput(folder: Path) -> None:
    clip = folder / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25", "-t", "30", "-pix_fmt", "yuv420p", "-preset",
           "ultrafast", str(clip))
    decode_cpu = hash_cpu = float("inf")
    for _ in range(3):  # alternated, the least CPU of each: the machine is shared
        started = time.process_time()
        frames = sum(1 for _ in sample(clip, 2.0, Limits()))  # PyAV decoding and scaling the same frames alone
        decode_cpu = min(decode_cpu, time.process_time() - started)
        started = time.process_time()
        hash_file(clip, 2.0, Limits())
        hash_cpu = min(hash_cpu, time.process_time() - started)
    extra = (hash_cpu - decode_cpu) / decode_cpu
    print(f"throughput: 30 s of 720p25, {frames} frames sampled: decoding alone {frames / decode_cpu:.1f} frames/s "
          f"of CPU, decoding + hashing (whole and top part) {frames / hash_cpu:.1f} frames/s; hashing costs "
          f"{extra:.2f}x decoding (target <= 1)")


def _times(run, repeats: int) -> tuple[float, float, int, float]:
    """p50 and p99 (ms) of `repeats` runs of a lookup, its hit count (the same from every path), and the p50 of
    this process's CPU time (ms): on a shared host the wall time is mostly waiting for a core."""
    times, cpu, hits = [], [], 0
    for _ in range(repeats):
        started, started_cpu = time.monotonic(), time.process_time()
        hits = run()
        times.append((time.monotonic() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))], hits, statistics.median(cpu)


def _bare_scan(table: np.ndarray, query: np.ndarray) -> int:
    """The plain baseline: numpy's popcount over the hashes in memory, in blocks; the hits within 31 bits."""
    return sum(int((distances(query[q:q + 16], table[i:i + 200_000]) <= MATCH_BITS).sum())
               for q in range(0, len(query), 16) for i in range(0, len(table), 200_000))


def _planted(rng: np.random.Generator, count: int, queries: list[bytes]) -> np.ndarray:
    """`count` random hashes (random hashes lie ~128 bits apart) with a copy of each query 5 to 31 bits off."""
    table = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    rows = rng.choice(count, size=len(queries), replace=False)
    for row, digest in zip(rows, queries, strict=True):
        bits = np.unpackbits(np.frombuffer(digest, dtype=np.uint8))
        bits[rng.choice(256, size=int(rng.integers(5, 32)), replace=False)] ^= 1
        table[row] = np.packbits(bits)
    return table


def _copy_in(conn: psycopg.Connection, table: np.ndarray, first_id: int) -> None:
    """The hashes into frame_hash by COPY (bit(256) from hex), ids from first_id, 600 frames a video."""
    with conn.cursor().copy("COPY frame_hash (id, video_id, second, quality, hash) FROM STDIN") as copy:
        for start in range(0, len(table), 100_000):
            block = table[start:start + 100_000]
            lines = [f"{first_id + start + i}\t{(first_id + start + i) // 600}\t{(first_id + start + i) % 600 / 2}"
                     f"\t90\tx{row.tobytes().hex()}\n" for i, row in enumerate(block)]
            copy.write("".join(lines))


def _faiss_file(table: np.ndarray, folder: Path) -> Path:
    """The FAISS index of the hashes (ids 1..n, as in frame_hash) written where FaissIndex reads it."""
    from archive.footage.ondisk import empty_index, write_index

    index = empty_index()
    for start in range(0, len(table), 1_000_000):
        block = table[start:start + 1_000_000]
        index.add_with_ids(block, np.arange(start + 1, start + 1 + len(block), dtype=np.int64))
    path = folder / "footage.faissindex"
    write_index(path, index, {"highest": len(table), "rows": len(table)})
    return path


def _measure(session: object, path: Path, words: np.ndarray, name: str, queries: list[tuple[float, bytes]],
             repeats: int) -> None:
    """One query's p50/p99 through the FAISS index and PostgreSQL's scan, against the bare numpy scan."""
    from archive.footage.index import PostgresScan
    from archive.footage.ondisk import FaissIndex

    query = as_words([h for _, h in queries])
    share = 1 if len(queries) < 20 else 10  # the bare scan of a video query: a tenth of its hashes, times ten
    plain = _times(lambda: _bare_scan(words, query[:len(query) // share]), 3 if share == 1 else 1)
    plain = (plain[0] * share, plain[1] * share, plain[2], plain[3] * share)
    ondisk, scan = FaissIndex(session, path), PostgresScan(session)
    paths = {"FAISS index": _times(lambda: len(ondisk.near(queries, MATCH_BITS)), repeats)}
    pg_cost = len(words) * len(queries) * 0.4e-6  # seconds a query, as measured here: skip what takes hours
    if pg_cost < 60:
        paths["PostgreSQL scan"] = _times(lambda: len(scan.near(queries, MATCH_BITS)), 1 if pg_cost > 10 else 5)
    estimated = " (a tenth of its hashes scanned, times ten)" if share > 1 else f" ({plain[2]} hits)"
    print(f"    {name}: bare numpy scan p50 {plain[0]:,.0f} ms (CPU {plain[3]:,.0f} ms){estimated}")
    for label, (p50, p99, hits, cpu) in paths.items():
        print(f"    {name}: {label} p50 {p50:,.1f} ms, p99 {p99:,.1f} ms (CPU here {cpu:,.1f} ms; {hits} hits); "
              f"{plain[0] / p50:,.1f}x faster than the bare numpy scan")
    if pg_cost >= 60:
        print(f"    {name}: PostgreSQL scan not run (about {pg_cost / 60:.0f} min a query)")


def _one_size(conn: psycopg.Connection, url: str, count: int, folder: Path,
              queries: dict[str, list[tuple[float, bytes]]]) -> None:
    """Fill `count` hashes (near copies of the queries planted), build the index, measure every query."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from archive.footage.ondisk import FaissIndex

    conn.execute("TRUNCATE frame_hash")
    image, video = queries["image"], queries["60 s video"]
    table = _planted(np.random.default_rng(count), count, [h for _, h in image] + [h for _, h in video[::9]])
    started = time.monotonic()
    _copy_in(conn, table, 1)
    conn.execute("VACUUM ANALYZE frame_hash")
    filled = time.monotonic() - started
    started = time.monotonic()
    path = _faiss_file(table, folder)
    built = time.monotonic() - started
    words = np.ascontiguousarray(table).view(">u8").astype(np.uint64)
    del table
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with Session(engine) as session:
        started = time.monotonic()
        FaissIndex(session, path).near(image, MATCH_BITS)  # the file is loaded once per process, as a server would
        print(f"  {count:,} hashes (COPY into PostgreSQL {filled:.0f} s, FAISS index built {built:.0f} s, "
              f"loaded from disk {time.monotonic() - started:.1f} s; peak memory of this process "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2:.1f} GB)")
        for name, asked in queries.items():
            print(f"    (load average {os.getloadavg()[0]:.1f})")
            _measure(session, path, words, name, asked, 20 if name == "image" else 5)
    engine.dispose()


def latency(database_url: str, counts: list[int], folder: Path) -> None:
    still, clip = folder / "still.png", folder / "minute.mp4"
    ffmpeg("-f", "lavfi", "-i", f"mandelbrot=s={SIZE}", "-frames:v", "1", str(still))
    ffmpeg("-f", "lavfi", "-i", f"mandelbrot=s={SIZE}:r=5", "-t", "60", "-pix_fmt", "yuv420p", str(clip))
    queries = {"image": [(0.0, h) for h in picture_hashes(next(iter(sample(still, 1.0, Limits(max_decoded=2)))).rgb)],
               "60 s video": video_queries(clip, 1.0, Limits())}
    print(f"latency: an image query ({len(queries['image'])} hashes: 8 orientations and the top part) and a 60 s "
          f"video query ({len(queries['60 s video'])} hashes) over N synthetic hashes, exact within 31 bits "
          f"(load average {os.getloadavg()[0]:.1f})")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path = "{schema}"')
        conn.execute("CREATE TABLE frame_hash (id bigint PRIMARY KEY, video_id bigint, second real, "
                     "quality smallint, hash bit(256))")
        try:
            for count in counts:
                _one_size(conn, f"{database_url}?options=-csearch_path%3D{schema}", count, folder, queries)
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=46, help="unrelated clips (46 make 2,070 ordered pairs)")
    parser.add_argument("--hashes", default="1000000,10000000", help="synthetic hash counts for the latency runs")
    parser.add_argument("--database-url", default=POSTGRES)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: robustness,throughput,latency")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="lastseen-bench-footage-") as name:
        folder = Path(name)
        if "robustness" not in skip:
            robustness(folder, args.clips)
        if "throughput" not in skip:
            throughput(folder)
        if "latency" not in skip:
            latency(args.database_url, [int(n) for n in args.hashes.split(",")], folder)


if __name__ == "__main__":
    main()
