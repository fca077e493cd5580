"""Name lookups checked by the net guard, for a library that resolves and connects by itself (Apprise).

Apprise's plugins open their own requests sessions (and SMTP connections), so no guarded adapter can be
given to them, and a host checked before the call could resolve to another address when they connect (DNS
rebinding) or redirect them anywhere. Inside `guarded_lookups(guard)`, every name lookup made in this context
(this thread, and the worker threads Apprise hands a copy of the context to) goes through the guard: the
addresses the client connects to are the ones checked, and a refused answer is a resolution failure
(socket.gaierror) that the client reports like any other. Lookups in other contexts are unaffected.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from archive.net.guard import BlockedURL, NetGuard

# The guard of the current context and the list its refusals are told in; None outside guarded_lookups.
_active: ContextVar[tuple[NetGuard, list[str]] | None] = ContextVar("lastseen_guarded_lookups", default=None)
_install = threading.Lock()


class _Lookup:
    """socket.getaddrinfo as it was, with the guard of the current context (if any) on every answer."""

    def __init__(self, resolve: Any) -> None:
        self.resolve = resolve

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        infos = self.resolve(host, port, *args, **kwargs)
        active = _active.get()
        if active is None or host is None:
            return infos
        guard, refused = active
        name = host.decode("idna") if isinstance(host, bytes) else str(host)
        number = int(port) if isinstance(port, int) or (isinstance(port, str) and port.isdigit()) else None
        if number is not None and guard.is_trusted(name, number):
            return infos
        try:
            guard.check_addresses(name, number, [str(info[4][0]).split("%", 1)[0] for info in infos])
        except BlockedURL as exc:
            refused.append(str(exc))
            raise socket.gaierror(socket.EAI_FAIL, f"refused by the net guard: {exc}") from None
        return infos


@contextmanager
def guarded_lookups(guard: NetGuard) -> Iterator[list[str]]:
    """Check every name lookup of this context with the guard while inside; yields the refusals' reasons."""
    with _install:
        if not isinstance(socket.getaddrinfo, _Lookup):
            socket.getaddrinfo = _Lookup(socket.getaddrinfo)  # type: ignore[assignment]
    refused: list[str] = []
    token = _active.set((guard, refused))
    try:
        yield refused
    finally:
        _active.reset(token)
