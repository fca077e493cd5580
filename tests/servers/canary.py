"""A loopback canary: counts every TCP connection and UDP datagram that reaches it, and answers HTTP with a page
that must never be seen (red, with the word INTERNAL), the way an internal service would.

It listens where the net guard's allow-list does not reach (127.0.0.2, or another port of 127.0.0.1), so any
count above zero is a browser that went around the guard.
"""

from __future__ import annotations

import socket
import threading

INTERNAL_PAGE = (b"<html><body style='margin:0;background:#ff0000'><h1 style='font-size:120px'>INTERNAL SECRET</h1>"
                 b"<div style='height:2000px'></div></body></html>")


class Canary:
    """TCP and UDP on host:port (the same port number for both); `hits` lists what arrived, first bytes each."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.host = host
        self.hits: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._tcp = socket.create_server((host, 0))
        self.port = self._tcp.getsockname()[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((host, self.port))
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True),
                         threading.Thread(target=self._datagrams, daemon=True)]

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> Canary:
        for thread in self._threads:
            thread.start()
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.hits)

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()

    def stop(self) -> None:
        self._stop.set()
        self._tcp.close()
        self._udp.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                first = conn.recv(4096)
            except OSError:
                first = b""
            with self._lock:
                self.hits.append(("tcp", first[:200]))
            if first[:4] in {b"GET ", b"POST", b"HEAD"}:
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                                 + str(len(INTERNAL_PAGE)).encode() + b"\r\nConnection: close\r\n\r\n"
                                 + INTERNAL_PAGE)
                except OSError:
                    pass

    def _datagrams(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self._udp.recvfrom(65536)
            except OSError:
                return
            with self._lock:
                self.hits.append(("udp", data[:200]))
