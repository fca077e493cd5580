"""A local server speaking the Internet Archive's Wayback protocols, scripted per test.

It answers, on 127.0.0.1 and a free port:

- ``GET /save/<url>``: unauthenticated Save Page Now (the capture URL in ``Content-Location``, a ``Link``
  memento header, a redirect, or an HTML page naming a job to poll);
- ``POST /save`` (form ``url=...``) and ``GET /save/status/<job>``: Save Page Now 2 with jobs that stay
  pending for some polls, then succeed or fail with a ``status_ext``;
- ``GET /cdx/search/cdx``: the CDX API, JSON (``output=json``) or plain text, with ``from``/``to``/``limit``/
  ``fl``/``filter``;
- ``GET /wayback/available``: the availability API;
- ``GET /<collection>/record/<url>`` and ``GET /<collection>/cdx``: just enough of pywb for its client.

Script answers with ``script_save(url, [answer, ...])`` (one answer per request, the last one repeats),
put captures into the index with ``add_capture(url, timestamp, status)``, and read every request received
in ``server.requests``. Answers are built with the helpers below (``captured``, ``spn2_job``, ``http_error``...).
One concept (the Internet Archive's protocols as the client meets them), so longer than most modules.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict


@dataclass
class Reply:
    """A raw HTTP answer: status, headers, body, optionally after a delay."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | str | dict[str, Any] | list[Any] = b""
    delay: float = 0.0
    drop: bool = False  # close the connection without answering

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/html; charset=utf-8"
        return self.body, "text/plain"


@dataclass
class Captured:
    """Unauthenticated save succeeded; ``via`` says how the capture is announced."""

    timestamp: str
    via: str = "content-location"  # "content-location", "link", "redirect", "location" (3xx, not followed)
    status: int = 200


@dataclass
class HtmlJob:
    """Unauthenticated save answered with an HTML page that names a job to poll (as web.archive.org does now)."""

    job_id: str
    states: list[dict[str, Any]]


@dataclass
class Spn2Job:
    """SPN2 accepted the request: ``{"job_id": ...}``; the job then walks through ``states`` on each poll."""

    job_id: str
    states: list[dict[str, Any]]
    message: str = ""


Answer = Reply | Captured | HtmlJob | Spn2Job


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    form: dict[str, str]
    query: dict[str, list[str]]
    proxied: bool = False  # asked in absolute form, as clients talk to an HTTP proxy


# --- helpers that build answers ------------------------------------------------------------------

def captured(timestamp: str, via: str = "content-location") -> Captured:
    return Captured(timestamp, via)


def pending() -> dict[str, Any]:
    return {"status": "pending", "resources": []}


def job_success(timestamp: str, original_url: str | None = None, message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"status": "success", "timestamp": timestamp, "duration_sec": 6.2}
    if original_url:
        state["original_url"] = original_url
    if message:
        state["message"] = message
    return state


def job_error(status_ext: str, message: str) -> dict[str, Any]:
    return {"status": "error", "status_ext": status_ext, "message": message, "exception": "ignored"}


def spn2_job(job_id: str, states: list[dict[str, Any]], message: str = "") -> Spn2Job:
    return Spn2Job(job_id, states, message)


def spn2_error(status_ext: str, message: str, status: int = 200) -> Reply:
    """SPN2 refused the request outright (no job), as it does for daily limits and session limits."""
    return Reply(status, body={"status": "error", "status_ext": status_ext, "message": message})


def http_error(status: int, body: str = "", retry_after: str | int | None = None) -> Reply:
    headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
    return Reply(status, headers, body or f"<html><body><h1>{status}</h1></body></html>")


def html_error(title: str, message: str, status: int = 200) -> Reply:
    """The HTML page web.archive.org shows for a refused unauthenticated save."""
    body = (f"<html><head><title>Wayback Machine</title></head><body><div id='spn-error'>"
            f"<h2>{title}</h2>\n<p>{message}</p></div></body></html>")
    return Reply(status, body=body)


def slow(answer: Reply, seconds: float) -> Reply:
    answer.delay = seconds
    return answer


def utc_timestamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")


@dataclass
class Row:
    """One capture in the fake index."""

    url: str
    timestamp: str
    status: str = "200"
    mimetype: str = "text/html"
    digest: str = "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"
    length: str = "1234"

    def field(self, name: str) -> str:
        return {
            "urlkey": _urlkey(self.url), "timestamp": self.timestamp, "original": self.url,
            "mimetype": self.mimetype, "statuscode": self.status, "digest": self.digest, "length": self.length,
        }[name]


KEYS = ("acc355", "s3cr3t")  # the S3-style keys of the `ia_keys` server
DEFAULT_TIMESTAMP = "20240102030405"  # what unscripted saves capture at, unless a test says otherwise
CDX_FIELDS = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]


def _urlkey(url: str) -> str:
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "").removeprefix("www.")
    reversed_host = ",".join(reversed(host.split(".")))
    return f"{reversed_host}){parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


def _same_url(a: str, b: str) -> bool:
    """CDX matching ignores the scheme and a leading www., as the Wayback Machine does."""
    return _urlkey(a) == _urlkey(b)


def _pad(ts: str, digit: str) -> str:
    return (ts + digit * 14)[:14]


class IAServer:
    """The server; use as a context manager or call ``stop()``."""

    def __init__(self, access_key: str = "", secret_key: str = "") -> None:
        self.keys = (access_key, secret_key) if access_key else None
        self.requests: list[Received] = []
        self.rows: list[Row] = []
        self.default_timestamp = DEFAULT_TIMESTAMP
        self._save: dict[str, list[Answer]] = {}
        self._jobs: dict[str, list[dict[str, Any]]] = {}
        self._polls: dict[str, int] = {}
        self._cdx: dict[str, list[Reply]] = {}
        self._record: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._job_counter = 0
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                server._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802 - stdlib's name
                server._handle(self, "POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="ia-server", daemon=True)
        self._thread.start()
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._stopped = False

    # --- scripting ------------------------------------------------------------------------------

    def script_save(self, url: str, answers: list[Answer] | Answer) -> None:
        """Answers for saves of ``url`` (GET /save/<url> and POST /save alike), one per request."""
        with self._lock:
            self._save[url] = list(answers) if isinstance(answers, list) else [answers]

    def script_job(self, job_id: str, states: list[dict[str, Any]]) -> None:
        with self._lock:
            self._jobs[job_id] = list(states)

    def script_cdx(self, url: str, answers: list[Reply] | Reply) -> None:
        """Raw answers to CDX queries for ``url`` (errors, malformed bodies); otherwise the index answers."""
        with self._lock:
            self._cdx[url] = list(answers) if isinstance(answers, list) else [answers]

    def script_record(self, url: str, answers: list[Reply] | Reply) -> None:
        """Raw answers to pywb record requests for ``url``; otherwise a 200 page is recorded."""
        with self._lock:
            self._record[url] = list(answers) if isinstance(answers, list) else [answers]

    def add_capture(self, url: str, timestamp: str, status: int | str = 200, mimetype: str = "text/html") -> None:
        with self._lock:
            self.rows.append(Row(url, timestamp, str(status), mimetype))

    def polls(self, job_id: str) -> int:
        return self._polls.get(job_id, 0)

    def received(self, method: str | None = None, prefix: str = "") -> list[Received]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> IAServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving --------------------------------------------------------------------------------

    def _next(self, table: dict[str, list[Any]], key: str) -> Any:
        with self._lock:
            answers = table.get(key)
            if not answers:
                return None
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        form = dict(parse_qsl(body.decode("utf-8", "replace"))) if method == "POST" else {}
        path = h.path
        proxied = bool(re.match(r"^https?://", path))
        if proxied:  # acting as the proxy too: serve the origin-form path
            parts = urlsplit(path)
            path = path[len(f"{parts.scheme}://{parts.netloc}"):] or "/"
        query = parse_qs(urlsplit(path).query)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(h.headers.items()))
        with self._lock:
            self.requests.append(Received(method, path, headers, body, form, query, proxied))
        try:
            if method == "POST" and urlsplit(path).path == "/save":
                reply = self._spn2_submit(form.get("url", ""), headers)
            elif method == "GET" and path.startswith("/save/status/"):
                reply = self._status(urlsplit(path).path.removeprefix("/save/status/"), headers)
            elif method == "GET" and path.startswith("/save/"):
                reply = self._save_get(path.removeprefix("/save/"))
            elif method == "GET" and path.startswith("/cdx/search/cdx"):
                reply = self._cdx_reply(query, pywb=False)
            elif method == "GET" and path.startswith("/wayback/available"):
                reply = self._available(query)
            elif method == "GET" and path.startswith("/web/"):
                reply = Reply(200, body="<html><body>archived copy</body></html>")
            elif method == "GET" and re.match(r"^/[^/]+/record/", path):
                reply = self._record_reply(path.split("/record/", 1)[1])
            elif method == "GET" and re.match(r"^/[^/]+/cdx\?", path):
                reply = self._cdx_reply(query, pywb=True)
            else:
                reply = Reply(404, body="not found")
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hung test
            reply = Reply(500, body=f"ia_server error: {exc!r}")
        self._send(h, reply)

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            h.close_connection = True
            return
        data, content_type = reply.payload()
        try:
            h.send_response(reply.status)
            names = {name.lower() for name, _ in reply.headers}
            if "content-type" not in names:
                h.send_header("Content-Type", content_type)
            for name, value in reply.headers:
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:  # the client gave up (timeouts in tests)
            pass

    def _authorized(self, headers: CaseInsensitiveDict[str]) -> bool:
        if self.keys is None:
            return True
        return headers.get("Authorization") == f"LOW {self.keys[0]}:{self.keys[1]}"

    def _new_job_id(self) -> str:
        with self._lock:
            self._job_counter += 1
            return f"spn2-{self._job_counter:040x}"

    def _save_get(self, target: str) -> Reply:
        answer = self._next(self._save, target)
        if answer is None:
            answer = Captured(self.default_timestamp)
        if isinstance(answer, Reply):
            return answer
        if isinstance(answer, HtmlJob):
            self.script_job(answer.job_id, answer.states)
            page = (f"<html><body><div id='spn-result'></div><script>"
                    f"spn.watchJob(\"{answer.job_id}\", \"/_static/\", 6000);</script></body></html>")
            return Reply(200, body=page)
        if isinstance(answer, Spn2Job):  # the same job flow, answered as JSON
            self.script_job(answer.job_id, answer.states)
            return Reply(200, body={"url": target, "job_id": answer.job_id})
        self.add_capture(target, answer.timestamp)
        archived = f"/web/{answer.timestamp}/{target}"
        if answer.via == "content-location":
            return Reply(answer.status, [("Content-Location", archived)], "<html>saved</html>")
        if answer.via == "link":
            base = self.base_url
            link = (f'<{target}>; rel="original", <{base}/web/timemap/link/{target}>; rel="timemap"; '
                    f'type="application/link-format", <{base}/web/{target}>; rel="timegate", '
                    f'<{base}/web/19990101000000/{target}>; rel="first memento"; '
                    f'datetime="Fri, 01 Jan 1999 00:00:00 GMT", '
                    f'<{base}{archived}>; rel="memento"; datetime="{_http_date(answer.timestamp)}", '
                    f'<{base}{archived}>; rel="last memento"; datetime="{_http_date(answer.timestamp)}"')
            return Reply(answer.status, [("Link", link)], "<html>saved</html>")
        if answer.via == "redirect":
            return Reply(302, [("Location", archived)], "")
        if answer.via == "location":
            return Reply(302, [("Location", f"{self.base_url}{archived}")], "")
        raise ValueError(f"unknown via {answer.via!r}")

    def _spn2_submit(self, url: str, headers: CaseInsensitiveDict[str]) -> Reply:
        if not self._authorized(headers):
            return Reply(401, body={"message": "You need to be logged in to use Save Page Now."})
        answer = self._next(self._save, url)
        if answer is None:
            job_id = self._new_job_id()
            self.script_job(job_id, [pending(), job_success(self.default_timestamp, url)])
            self.add_capture(url, self.default_timestamp)
            return Reply(200, body={"url": url, "job_id": job_id})
        if isinstance(answer, Reply):
            return answer
        if isinstance(answer, Spn2Job | HtmlJob):
            self.script_job(answer.job_id, answer.states)
            body: dict[str, Any] = {"url": url, "job_id": answer.job_id}
            if isinstance(answer, Spn2Job) and answer.message:
                body["message"] = answer.message
            return Reply(200, body=body)
        job_id = self._new_job_id()
        self.script_job(job_id, [job_success(answer.timestamp, url)])
        return Reply(200, body={"url": url, "job_id": job_id})

    def _status(self, job_id: str, headers: CaseInsensitiveDict[str]) -> Reply:
        with self._lock:
            self._polls[job_id] = self._polls.get(job_id, 0) + 1
        state = self._next(self._jobs, job_id)
        if state is None:
            return Reply(200, body={"status": "error", "status_ext": "error:job-not-found",
                                    "message": f"Job {job_id} not found."})
        if isinstance(state, Reply):
            return state
        return Reply(200, body={"job_id": job_id, **state})

    def _matching_rows(self, query: dict[str, list[str]]) -> list[Row]:
        url = query.get("url", [""])[0]
        rows = sorted((r for r in self.rows if _same_url(r.url, url)), key=lambda r: r.timestamp)
        if "from" in query:
            rows = [r for r in rows if r.timestamp >= _pad(query["from"][0], "0")]
        if "to" in query:
            rows = [r for r in rows if r.timestamp <= _pad(query["to"][0], "9")]
        for spec in query.get("filter", []):
            negate = spec.startswith("!")
            name, _, pattern = spec.lstrip("!").partition(":")
            name = {"status": "statuscode", "url": "original", "mime": "mimetype"}.get(name, name)
            rows = [r for r in rows if bool(re.fullmatch(pattern, r.field(name))) != negate]
        if "limit" in query:
            limit = int(query["limit"][0])
            rows = rows[:limit] if limit >= 0 else rows[limit:]
        return rows

    def _cdx_reply(self, query: dict[str, list[str]], pywb: bool) -> Reply:
        url = query.get("url", [""])[0]
        scripted = self._next(self._cdx, url)
        if scripted is not None:
            return scripted
        rows = self._matching_rows(query)
        output = query.get("output", [""])[0]
        if pywb:  # pywb: output=json is one JSON object per line
            if output != "json":
                return Reply(200, body=("".join(f"{_urlkey(r.url)} {r.timestamp} {{}}\n" for r in rows)).encode())
            lines = [json.dumps({"urlkey": _urlkey(r.url), "timestamp": r.timestamp, "url": r.url,
                                 "mime": r.mimetype, "status": r.status, "digest": r.digest, "length": r.length,
                                 "offset": "0", "filename": "rec-0.warc.gz"}) for r in rows]
            return Reply(200, [("Content-Type", "text/x-ndjson")], ("\n".join(lines) + "\n" if lines else "").encode())
        fields = query.get("fl", [",".join(CDX_FIELDS)])[0].split(",")
        if output == "json":
            if not rows:
                return Reply(200, body=[])
            return Reply(200, body=[fields] + [[r.field(f) for f in fields] for r in rows])
        text = "".join(" ".join(r.field(f) for f in fields) + "\n" for r in rows)
        return Reply(200, body=text.encode())

    def _available(self, query: dict[str, list[str]]) -> Reply:
        url = query.get("url", [""])[0]
        rows = self._matching_rows({"url": [url]})
        answer: dict[str, Any] = {"url": url, "archived_snapshots": {}}
        if rows:
            wanted = _pad(query.get("timestamp", ["99999999999999"])[0], "0")
            best = min(rows, key=lambda r: abs(int(r.timestamp) - int(wanted)))
            answer["archived_snapshots"]["closest"] = {
                "status": best.status, "available": True, "timestamp": best.timestamp,
                "url": f"{self.base_url}/web/{best.timestamp}/{best.url}",
            }
        return Reply(200, body=answer)

    def _record_reply(self, target: str) -> Reply:
        scripted = self._next(self._record, target)
        if scripted is not None:
            return scripted
        timestamp = utc_timestamp()
        self.add_capture(target, timestamp)
        return Reply(200, body="<html><body>live page, recorded</body></html>")

    def cdx_lines(self) -> Iterator[str]:  # for debugging failing tests
        for r in self.rows:
            yield " ".join(r.field(f) for f in CDX_FIELDS)


def _http_date(timestamp: str) -> str:
    when = datetime.strptime(timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")
