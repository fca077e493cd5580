"""Crawl benchmark: lastseen archiving a local site into SeaweedFS vs plain Scrapy storing nothing.

Usage: .venv/bin/python bench/crawl.py [--pages 10000] [--runs 3] [--requisites]
Prints pages per second and peak memory of each run, alternating plain Scrapy and lastseen in the same machine
state, and the medians. lastseen's rate is its capture rate (every WARC file stored, every capture row
recorded); the describing of pages after the crawl is timed and printed beside it.
Target (issue #14): lastseen captures at least 90% of plain Scrapy's pages/s.
With --requisites each page carries 20 images (10 shared by every page, 10 its own): plain Scrapy fetches the
pages and their images (its duplicate filter fetching a shared one once), lastseen archives them as page
requisites; the rate compared is fetches per second. Target (issue #21): at least 85% of plain Scrapy's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SITE = r'''
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = ("<p>" + "The river rose three metres overnight and the old bridge was closed. " * 40 + "</p>") * 2

REQUISITES = len(sys.argv) > 1 and sys.argv[1] == "requisites"
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        n = self.path.rsplit("/", 1)[-1]
        kind = "text/html; charset=utf-8"
        images = ""
        if REQUISITES:  # 10 images every page shows, 10 of its own
            images = "".join(f"<img src='/s/{i}.png'><img src='/o/{n}/{i}.png'>" for i in range(10))
        if self.path.endswith(".png"):
            body, kind = IMAGE, "image/png"
        else:
            body = (f"<html><head><title>Story {n}</title><meta property='og:title' content='Story {n}'></head>"
                    f"<body><article><h1>Story {n}</h1>{BODY}{images}<a href='/p/{n}x'>next</a></article></body>"
                    "</html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
'''

PLAIN = r'''
import json, resource, sys, time
import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess

urls = json.load(open(sys.argv[1]))
settings = json.loads(sys.argv[2])
requisites = len(sys.argv) > 3

class Plain(scrapy.Spider):
    name = "plain"
    async def start(self):
        for url in urls:
            yield scrapy.Request(url, dont_filter=True)
    def parse(self, response):
        yield {"url": response.url, "status": response.status}
        if requisites:
            for src in response.css("img::attr(src)").getall():
                yield scrapy.Request(response.urljoin(src), callback=self.image, priority=1)
    def image(self, response):
        yield {"url": response.url, "status": response.status}

settings["ITEM_PIPELINES"] = {}
start = time.perf_counter()  # as lastseen's crawl time: from before its CrawlerProcess is made
process = CrawlerProcess(settings)
crawler = process.create_crawler(Plain)
cpu = {"start": time.process_time()}  # CPU as lastseen's: from here until the engine stops
crawler.signals.connect(lambda: cpu.setdefault("end", time.process_time()), signal=signals.engine_stopped, weak=False)
process.crawl(crawler)
process.start()
elapsed = time.perf_counter() - start
print(json.dumps({"pages": crawler.stats.get_value("response_received_count", 0), "seconds": elapsed,
                  "fetches": crawler.stats.get_value("response_received_count", 0),
                  "cpu_seconds": cpu["end"] - cpu["start"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

LASTSEEN = r'''
import json, resource, sys, time
from scrapy import signals
from archive.config import load_settings
from archive.workspace import Workspace
from crawler.run import run_crawl

overrides = json.loads(sys.argv[1])
ws = Workspace(load_settings())
cpu = {}

def on_crawler(crawler):
    """CPU of this process (every thread) from the crawl's start until its engine stops, its uploads done."""
    cpu["start"] = time.process_time()
    cpu["crawler"] = crawler
    crawler.signals.connect(lambda: cpu.setdefault("end", time.process_time()), signal=signals.engine_stopped,
                            weak=False)

start = time.perf_counter()
summary = run_crawl(ws, collection="bench", urls=[], depth=0, media=False, overrides=overrides, on_crawler=on_crawler)
elapsed = time.perf_counter() - start
print(json.dumps({"pages": summary["captured"] + summary["unchanged"], "failed": summary["failed"],
                  "fetches": cpu["crawler"].stats.get_value("response_received_count", 0),
                  "seconds": summary["crawl_seconds"], "cpu_seconds": cpu["end"] - cpu["start"],
                  "describe_seconds": summary["describe_seconds"],
                  "described": summary["described"], "total_seconds": elapsed,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
'''

# The same Scrapy knobs for both runs, so the difference is lastseen's own work.
SCRAPY = {"CONCURRENT_REQUESTS": 32, "CONCURRENT_REQUESTS_PER_DOMAIN": 32, "AUTOTHROTTLE_ENABLED": False,
          "ROBOTSTXT_OBEY": False, "LOG_LEVEL": "WARNING", "TELNETCONSOLE_ENABLED": False,
          "COOKIES_ENABLED": False, "RETRY_ENABLED": False}


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no result in output:\n{text[-2000:]}")


def _plain(url_file: Path, env: dict[str, str], requisites: bool = False) -> dict:
    extra = ["requisites"] if requisites else []
    return _last_json(subprocess.run([sys.executable, "-c", PLAIN, str(url_file), json.dumps(SCRAPY), *extra],
                                     capture_output=True, text=True, env=env).stdout)


def _lastseen(work: Path, run: int, urls: list[str], env: dict[str, str]) -> dict:
    """One lastseen crawl into a fresh database and storage prefix."""
    # No screenshots: Chromium rendering every page is a feature of its own, which plain Scrapy has no part of.
    env = {**env, "LASTSEEN_DATA_DIR": str(work / f"data{run}"), "LASTSEEN_STORAGE_URL": f"s3://bench/run{run}",
           "LASTSEEN_SCREENSHOTS": "no"}
    (work / "urls.txt").write_text("\n".join(urls))
    subprocess.run([str(Path(sys.executable).with_name("lastseen")), "import", str(work / "urls.txt"),
                    "-c", "bench"], env=env, check=True, capture_output=True)
    ours = subprocess.run([sys.executable, "-c", LASTSEEN, json.dumps(SCRAPY)], capture_output=True, text=True,
                          env=env)
    return _last_json(ours.stdout + "\n" + ours.stderr[-3000:])


def _cpu(result: dict) -> str:
    """The crawl process's CPU time, all its threads: unlike pages/s, hardly moved by the machine's load."""
    return f"CPU {result['cpu_seconds']:.1f} s ({result['cpu_seconds'] / result['pages'] * 1000:.2f} ms a page)"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f})"


@contextmanager
def _bench_world(work: Path, pages: int, requisites: bool = False) -> Iterator[tuple[list[str], Path, dict[str, str]]]:
    """The local site (pages alone, or with 20 images each) and a SeaweedFS bucket for one benchmark: the pages'
    URLs, a file listing them, and the environment both crawlers run in."""
    from tests.servers.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer

    site = subprocess.Popen([sys.executable, "-c", SITE, *(["requisites"] if requisites else [])],
                            stdout=subprocess.PIPE, text=True)
    port = int(site.stdout.readline())
    weed = SeaweedServer(work / "weed")
    weed.start()
    try:
        weed.client().create_bucket(Bucket="bench")
        urls = [f"http://127.0.0.1:{port}/p/{n}" for n in range(pages)]
        url_file = work / "urls.json"
        url_file.write_text(json.dumps(urls))
        yield urls, url_file, {**os.environ, "LASTSEEN_S3_ENDPOINT_URL": weed.endpoint_url,
                               "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                               "PYTHONPATH": str(ROOT), "LASTSEEN_ALLOW_NETWORKS": "127.0.0.1/32"}
    finally:
        weed.stop()
        site.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating (default 3)")
    parser.add_argument("--requisites", action="store_true", help="pages with 20 images each (10 shared)")
    args = parser.parse_args()
    if args.requisites:
        requisites_main(args)
        return

    plain: list[dict] = []
    ours: list[dict] = []
    print(f"pages: {args.pages} (local site, ~6 KB HTML each), {os.cpu_count()} cores, {_load()} before", flush=True)
    with tempfile.TemporaryDirectory(prefix="lastseen-bench-") as tmp:
        work = Path(tmp)
        with _bench_world(work, args.pages) as (urls, url_file, env):
            for run in range(args.runs):
                plain.append(_plain(url_file, env))
                p = plain[-1]
                print(f"run {run + 1} plain Scrapy (stores nothing): {p['pages']} pages in {p['seconds']:.1f} s = "
                      f"{p['pages'] / p['seconds']:.0f} pages/s, {_cpu(p)}, peak RSS {p['peak_rss_mb']:.0f} MB",
                      flush=True)
                ours.append(_lastseen(work, run, urls, env))
                o = ours[-1]
                print(f"run {run + 1} lastseen (WARC + SeaweedFS + SQLite rows): {o['pages']} pages captured in "
                      f"{o['seconds']:.1f} s = {o['pages'] / o['seconds']:.0f} pages/s, {_cpu(o)}, peak RSS "
                      f"{o['peak_rss_mb']:.0f} MB; then described {o['described']} in {o['describe_seconds']:.1f} s "
                      f"(+ {o['worker_peak_rss_mb']:.0f} MB a describe worker); {o['total_seconds']:.1f} s in all, "
                      f"{_load()}" + (f"; failures: {o['failed']}" if o.get("failed") else ""), flush=True)
                print(f"run {run + 1} ratio: {(o['pages'] / o['seconds']) / (p['pages'] / p['seconds']):.0%}",
                      flush=True)
    plain_rate = statistics.median(p["pages"] / p["seconds"] for p in plain)
    our_rate = statistics.median(o["pages"] / o["seconds"] for o in ours)
    total_rate = statistics.median(o["pages"] / o["total_seconds"] for o in ours)
    ratio = our_rate / plain_rate if plain_rate else 0.0
    # Each lastseen run follows its plain run: on a shared machine the pair sees the same load, the runs apart not.
    paired = statistics.median((o["pages"] / o["seconds"]) / (p["pages"] / p["seconds"])
                               for p, o in zip(plain, ours, strict=True))
    print(f"median of {args.runs}: plain Scrapy {plain_rate:.0f} pages/s, lastseen captures {our_rate:.0f} pages/s, "
          f"{total_rate:.0f} pages/s with the describing after the crawl")
    print(f"lastseen captures at {paired:.0%} of plain Scrapy's throughput, median of the runs' ratios "
          f"({ratio:.0%} as the ratio of the medians; target: at least 90%)")
    cpu = statistics.median(p["cpu_seconds"] / o["cpu_seconds"] for p, o in zip(plain, ours, strict=True))
    print(f"CPU: plain Scrapy's crawl process uses {cpu:.0%} of lastseen's (median of the runs; lastseen's "
          f"includes its upload thread and the rows; SeaweedFS and the describing are not counted)")


def requisites_main(args: argparse.Namespace) -> None:
    """Plain Scrapy fetching pages and their images against lastseen archiving them as requisites, in turns."""
    ratios: list[float] = []
    cpus: list[float] = []
    print(f"pages: {args.pages} with 20 images each, 10 shared ({args.pages * 11 + 10} fetches), "
          f"{os.cpu_count()} cores, {_load()} before", flush=True)
    with tempfile.TemporaryDirectory(prefix="lastseen-bench-") as tmp:
        work = Path(tmp)
        with _bench_world(work, args.pages, requisites=True) as (urls, url_file, env):
            for run in range(args.runs):
                p = _plain(url_file, env, requisites=True)
                o = _lastseen(work, run, urls, env)
                plain_rate, our_rate = p["fetches"] / p["seconds"], o["fetches"] / o["seconds"]
                ratios.append(our_rate / plain_rate)
                cpus.append(p["cpu_seconds"] / o["cpu_seconds"])
                print(f"run {run + 1}: plain Scrapy {p['fetches']} fetches in {p['seconds']:.1f} s = "
                      f"{plain_rate:.0f}/s; lastseen {o['fetches']} fetches ({o['pages']} pages captured) in "
                      f"{o['seconds']:.1f} s = {our_rate:.0f}/s; ratio {ratios[-1]:.0%}; CPU plain / lastseen "
                      f"{p['cpu_seconds']:.1f} / {o['cpu_seconds']:.1f} s = {cpus[-1]:.0%}; {_load()}"
                      + (f"; failures: {o['failed']}" if o.get("failed") else ""), flush=True)
    print(f"lastseen archives pages with their requisites at {statistics.median(ratios):.0%} of plain Scrapy's "
          f"fetches/s, median of {args.runs} runs (target: at least 85%); plain Scrapy's crawl process uses "
          f"{statistics.median(cpus):.0%} of lastseen's CPU")


if __name__ == "__main__":
    main()
