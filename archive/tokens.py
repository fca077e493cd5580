"""API tokens: made once and shown once, stored only as SHA-256, each with a role.

The `lastseen token` commands live in archive.cli.tokens.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.errors import UsageError
from archive.models import ApiToken, utcnow
from archive.sources.limits import check_name
from archive.timefmt import iso

# Each role may do what the ones before it may: read; add sources and start work; manage tokens and webhooks.
ROLES = ("reader", "archivist", "admin")
TOKEN_PREFIX = "lst_"


def role_allows(role: str | None, needed: str) -> bool:
    """Whether a caller with this role (None: anonymous) may do what needs `needed`."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    """A new random token: 256 bits, URL-safe, with a prefix that secret scanners recognize."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(session: Session, name: str, role: str) -> str:
    """Store a new token's hash under a name not used by another live token; return the token itself.

    InputError for a name check_name refuses; UsageError for a role or a name in use.
    """
    name = check_name(name, "token")
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))):
        raise UsageError(f"a token named {name!r} exists already (revoke it first)")
    token = generate_token()
    session.add(ApiToken(name=name, token_hash=hash_token(token), role=role))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> ApiToken | None:
    """The live token row matching a presented token, or None."""
    return session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                 ApiToken.revoked_at.is_(None)))


def revoke_token(session: Session, name: str) -> bool:
    """Revoke the live token of that name; False when there is none; InputError for a name check_name refuses.

    A live token of exactly that name is revoked whatever it holds (made before names were checked, it must not
    stay usable); otherwise the name is checked as on create.
    """
    token = session.scalar(select(ApiToken).where(ApiToken.name == name.strip(), ApiToken.revoked_at.is_(None)))
    if token is None:
        check_name(name, "token")
        return False
    token.revoked_at = utcnow()
    return True


def token_dict(token: ApiToken) -> dict[str, Any]:
    """A token as listed: never its hash."""
    return {"name": token.name, "role": token.role, "created_at": iso(token.created_at),
            "revoked_at": iso(token.revoked_at)}


def list_tokens(session: Session, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Tokens by name, live ones only unless asked."""
    query = select(ApiToken).order_by(ApiToken.name, ApiToken.created_at)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return [token_dict(t) for t in session.scalars(query)]
