"""Every keyed pseudonym the service makes, in one place.

Each is an HMAC-SHA256 under its own per-deployment key (bootstrap derives the keys), so
it is stable for the same input, unguessable without the key, and the three cannot be
linked to each other: the member reference (same member, same reference across cases),
the review pack's case pseudonym (what a reviewer partner sees), and the analytics
reference (what the analytics topic carries).
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID


def member_ref(key: bytes, nhs_number: str) -> UUID:
    digest = hmac.new(key, nhs_number.encode(), hashlib.sha256).digest()
    return UUID(bytes=digest[:16], version=4)


def case_pseudonym(key: bytes, case_id: UUID) -> str:
    digest = hmac.new(key, case_id.bytes, hashlib.sha256).hexdigest()
    return f"SMO-{digest[:12].upper()}"


#: Hex digits of the analytics reference: 128 bits, no collision in any real volume.
ANALYTICS_REF_HEX_DIGITS = 32
MIN_KEY_BYTES = 16


def analytics_ref(key: bytes, case_id: UUID | str) -> str:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the analytics key must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(key, str(case_id).encode(), hashlib.sha256).hexdigest()[:ANALYTICS_REF_HEX_DIGITS]
