"""`lastseen token create|list|revoke`: API tokens, shown once, listed by name and role."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from archive.cli.output import Output
from archive.db import session_scope
from archive.errors import EXIT_NOT_FOUND, EXIT_OK
from archive.tokens import ROLES, create_token, list_tokens, revoke_token
from archive.workspace import Workspace


def cmd_token_create(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Create a token and print it once."""
    with session_scope(ws.sessions) as session:
        token = create_token(session, args.name, args.role)
    if out.as_json:
        out.json({"name": args.name.strip(), "role": args.role, "token": token})
    else:
        out.line(token)
        out.warn(f"token {args.name.strip()!r} ({args.role}) created: store it now, it is not shown again")
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """List tokens (names and roles, never the tokens)."""
    with session_scope(ws.sessions) as session:
        rows = list_tokens(session, include_revoked=args.all)
    if out.as_json:
        out.json(rows)
        return EXIT_OK
    table = Table("name", "role", "created", "revoked", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["name"], row["role"], row["created_at"] or "-", row["revoked_at"] or "-")
    out.table(table)
    out.line(f"{len(rows)} token(s)")
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace, ws: Workspace, out: Output) -> int:
    """Revoke a token by name."""
    with session_scope(ws.sessions) as session:
        done = revoke_token(session, args.name)
    if out.as_json:
        out.json({"name": args.name, "revoked": done})
    elif done:
        out.line(f"revoked token {args.name!r}")
    if not done:
        if not out.as_json:
            out.warn(f"lastseen: no live token named {args.name!r}")
        return EXIT_NOT_FOUND
    return EXIT_OK


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `token create|list|revoke` to the command line."""
    p = sub.add_parser("token", parents=[common], help="API tokens: create, list, revoke")
    tokens = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    t = tokens.add_parser("create", parents=[common], help="create a token and print it (shown once)")
    t.add_argument("name")
    t.add_argument("--role", choices=ROLES, default="reader", help="reader, archivist or admin (default reader)")
    t.set_defaults(handler=cmd_token_create)
    t = tokens.add_parser("list", parents=[common], help="list tokens (never the tokens themselves)")
    t.add_argument("--all", action="store_true", help="include revoked tokens")
    t.set_defaults(handler=cmd_token_list)
    t = tokens.add_parser("revoke", parents=[common], help="revoke a token by name")
    t.add_argument("name")
    t.set_defaults(handler=cmd_token_revoke)
