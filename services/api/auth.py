"""Who is calling: signed, expiring bearer tokens (SPEC section 12) and the roles they carry.

A token is a JWT signed with HS256 under the deployment's `tokens` key (services/bootstrap.py
`Keys`, derived from the root secret beside the stores), so only a holder of that secret can
make one, and a token made for another deployment is unknown here. Claims: `sub` (the
person's name, recorded as the actor of what they do), `role`, `iat`, `exp`, `jti`.

The API takes the token from `Authorization: Bearer ...`, or, for the web page, from the
cookie `cases_token`. Anything else (missing, expired, tampered, signed by another key,
an unknown role) is 401 with a body that names no data; a valid token whose role lacks the
right is 403, and nothing is recorded.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from fastapi import HTTPException, Request

from services.common.errors import BadInput

ROLES = ("case_handler", "clinician", "auditor", "admin")
ALGORITHM = "HS256"
COOKIE = "cases_token"
#: Eight hours: a working day at the screen.
DEFAULT_TTL_HOURS = 8.0
#: A token lives at most thirty days: there is no revocation list, so none may live forever.
MAX_TTL_HOURS = 24.0 * 30
MAX_NAME = 100


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


# -- making a token (`cases token`) ----------------------------------------------------------


def check_token_request(role: str, name: str, ttl_hours: float) -> None:
    """Bad input names the option: exit 2, no token printed."""
    if role not in ROLES:
        raise BadInput("--role", f"must be one of {', '.join(ROLES)}")
    if not name.strip():
        raise BadInput("--name", "must not be empty")
    if len(name) > MAX_NAME:
        raise BadInput("--name", f"must be at most {MAX_NAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise BadInput("--name", "must not hold control or invisible characters")
    if not (ttl_hours == ttl_hours) or ttl_hours <= 0:  # NaN is not a duration either
        raise BadInput("--ttl-hours", "must be a number of hours above 0")
    if ttl_hours > MAX_TTL_HOURS:
        raise BadInput("--ttl-hours", f"must be at most {MAX_TTL_HOURS:g} hours")


def issue_token(key: bytes, role: str, name: str, ttl_hours: float = DEFAULT_TTL_HOURS,
                now: float | None = None) -> str:
    check_token_request(role, name, ttl_hours)
    issued = int(time.time() if now is None else now)
    claims = {"sub": name.strip(), "role": role, "iat": issued,
              "exp": issued + int(ttl_hours * 3600), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def token_key(home: Path) -> bytes:
    """The deployment's token key (made with the deployment's root secret on first use)."""
    from services.bootstrap import load_keys

    return load_keys(home).tokens


# -- checking a token (every API route but /health) ------------------------------------------


def unauthorized() -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"error": "unauthorized", "message": "a valid bearer token is required"},
        headers={"WWW-Authenticate": "Bearer"},
    )


def principal_of(token: str, key: bytes) -> Principal:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                            options={"require": ["sub", "role", "iat", "exp", "jti"]})
    except jwt.PyJWTError:
        raise unauthorized() from None
    name, role = claims.get("sub"), claims.get("role")
    if not isinstance(name, str) or not name.strip() or role not in ROLES:
        raise unauthorized()
    return Principal(name=name, role=role)


def bearer_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(COOKIE) or None


def authenticate(request: Request) -> Principal:
    """The caller, from their token; 401 when there is no valid one."""
    token = bearer_of(request)
    key: bytes | None = getattr(request.app.state, "token_key", None)
    if token is None or key is None:
        raise unauthorized()
    return principal_of(token, key)


def forbidden(principal: Principal, what: str = "this") -> HTTPException:
    return HTTPException(status_code=403, detail={
        "error": "forbidden", "role": principal.role,
        "message": f"the role {principal.role} may not do {what}"})


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency: the caller if their role is one of `roles`, else 403 (nothing recorded)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def dependency(request: Request) -> Principal:
        principal = authenticate(request)
        if principal.role not in roles:
            raise forbidden(principal)
        return principal

    return dependency
