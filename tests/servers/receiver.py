"""A webhook receiver on 127.0.0.1: records every POST, can fail the first ones, answer slowly or ask to retry later."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """An HTTP endpoint that records every POST (path, headers, body) and fails the first `fail_first` of them."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_first = 0
        self.fail_status = 500
        self.retry_after: str | None = None
        self.delay = 0.0
        self.redirect_to: str | None = None  # answer every POST with a 307 to this URL
        self._lock = threading.Lock()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.posts.append((self.path, dict(self.headers.items()), body))
                    failing = len(receiver.posts) <= receiver.fail_first
                if receiver.redirect_to:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                else:
                    self.send_response(receiver.fail_status if failing else 200)
                if failing and receiver.retry_after:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        """The JSON bodies posted to path, in order."""
        return [json.loads(body) for p, _, body in self.posts if p == path]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert in every JSON body received, on any path, in order."""
        with self._lock:
            posted = [body for _, _, body in self.posts]
        return [alert for body in posted for alert in json.loads(body).get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
