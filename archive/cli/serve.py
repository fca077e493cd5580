"""`lastseen serve`: the HTTP API and dashboard under uvicorn."""

from __future__ import annotations

import argparse
import gc
import socket
from typing import Any

from archive.cli.output import Output
from archive.errors import EXIT_OK, UsageError
from archive.workspace import Workspace


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or UsageError saying why not (address in use, unknown host...)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Serve the API and dashboard until interrupted."""
    import uvicorn

    from archive.api import create_app

    host = args.host or ws.settings.api_host
    port = ws.settings.api_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"cannot listen on port {port}: a port is a number from 0 (any free one) to 65535")
    ws.check()
    app = create_app(ws.settings)
    sock = listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    out.warn(f"lastseen API on http://{shown}:{sock.getsockname()[1]}/ (dashboard at /, OpenAPI at /openapi.json)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", proxy_headers=args.proxy_headers,
                                           forwarded_allow_ips=args.forwarded_allow_ips or None))
    gc.freeze()  # the startup's objects (modules, mappers, routes) are never garbage: full collections skip them
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `serve` to the command line."""
    p = sub.add_parser("serve", parents=[common], help="serve the HTTP API and dashboard")
    p.add_argument("--host", help="address to listen on (default LASTSEEN_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default LASTSEEN_API_PORT, 8000; 0 picks a free one)")
    p.add_argument("--proxy-headers", action="store_true",
                   help="trust X-Forwarded-Proto/For from --forwarded-allow-ips (behind a reverse proxy)")
    p.add_argument("--forwarded-allow-ips", help="proxy addresses to trust, comma-separated (default 127.0.0.1)")
    p.set_defaults(handler=cmd_serve)
