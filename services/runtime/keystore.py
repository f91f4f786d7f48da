"""Per-member data keys (envelope encryption) and sealed values.

Each member has a data key of their own (AES-256-GCM). It is stored only wrapped by the
deployment's key encryption key (KEK), in a store of its own, `HOME/keys/members.sqlite`
(a real deployment keeps the KEK in a KMS and never beside the data). A value sealed under
a member's key reads `sealed:v1:<member_ref>:<base64 nonce + ciphertext>`; the member
reference is a keyed pseudonym, not an identifier. Destroying a member's key (erasure)
makes every value sealed under it unreadable wherever it was copied: event stores, topics,
views, dead letters, exports. The key store is never in WAL mode and deletes securely, so
an erased key leaves no copy in the file.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
ERASED = "[erased]"
NONCE_BYTES = 12


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_member(value: str) -> str:
    return value[len(PREFIX):].split(":", 1)[0]


class KeyStoreMissing(Exception):
    """No key store where one was expected (a read never creates one)."""


class MemberKeys:
    def __init__(self, home: Path, kek: bytes, *, readonly: bool = False):
        self.path = home / "keys" / "members.sqlite"
        self.readonly = readonly
        self._kek = AESGCM(kek)
        self._cache: dict[str, bytes | None] = {}
        if readonly:
            if not self.path.exists():
                self.db: sqlite3.Connection | None = None
                return
            uri = f"file:{self.path}?mode=ro"
            if not os.access(self.path.parent, os.W_OK):
                uri += "&immutable=1"
            self.db = sqlite3.connect(uri, uri=True, timeout=30)
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.path.chmod(0o600)
        self.db.execute("PRAGMA secure_delete = ON")  # an erased key is overwritten, not unlinked
        self.db.execute("PRAGMA journal_mode = DELETE")  # no write-ahead copy of a key survives
        self.db.execute("CREATE TABLE IF NOT EXISTS member_keys (member_ref TEXT PRIMARY KEY,"
                        " wrapped BLOB NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS case_members (case_id TEXT PRIMARY KEY,"
                        " member_ref TEXT NOT NULL)")

    # -- keys -------------------------------------------------------------------------------

    def _key(self, member_ref: str, *, create: bool) -> bytes | None:
        if member_ref in self._cache and (self._cache[member_ref] is not None or not create):
            return self._cache[member_ref]
        row = self.db.execute("SELECT wrapped FROM member_keys WHERE member_ref = ?",
                              (member_ref,)).fetchone() if self.db is not None else None
        if row is None and create:
            if self.db is None or self.readonly:
                raise KeyStoreMissing("the key store is read-only here")
            fresh = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(NONCE_BYTES)
            wrapped = nonce + self._kek.encrypt(nonce, fresh, member_ref.encode())
            self.db.execute("INSERT OR IGNORE INTO member_keys VALUES (?, ?)", (member_ref, wrapped))
            row = self.db.execute("SELECT wrapped FROM member_keys WHERE member_ref = ?",
                                  (member_ref,)).fetchone()
        key = None
        if row is not None:
            blob = bytes(row[0])
            key = self._kek.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], member_ref.encode())
        self._cache[member_ref] = key
        return key

    def destroy(self, member_ref: str) -> bool:
        """Erase the member's key; True if there was one."""
        if self.db is None or self.readonly:
            raise KeyStoreMissing("the key store is read-only here")
        gone = self.db.execute("DELETE FROM member_keys WHERE member_ref = ?", (member_ref,)).rowcount
        self.db.execute("VACUUM")  # no free page keeps the wrapped key either
        self._cache[member_ref] = None
        return bool(gone)

    def has_key(self, member_ref: str) -> bool:
        return self._key(member_ref, create=False) is not None

    # -- cases ------------------------------------------------------------------------------

    def bind(self, case_id: UUID, member_ref: UUID) -> None:
        """The case bound to its member, and the member given a data key where they have
        none yet (a case about them is about to seal their identifiers): one transaction.
        Why: each write to this store is a rollback journal's two fsyncs, and the key and
        the binding written one after the other were two of them for every new member's
        case (bench B7)."""
        if self.db is None or self.readonly:
            raise KeyStoreMissing("the key store is read-only here")
        ref = str(member_ref)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._key(ref, create=True)
            self.db.execute("INSERT OR IGNORE INTO case_members VALUES (?, ?)", (str(case_id), ref))
            self.db.execute("COMMIT")
        except BaseException:
            # A key made in a transaction that did not commit was never stored: sealing
            # with it from the cache would make values nobody can read.
            self._cache.pop(ref, None)
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def member_of(self, case_id: UUID) -> str | None:
        if self.db is None:
            return None
        row = self.db.execute("SELECT member_ref FROM case_members WHERE case_id = ?",
                              (str(case_id),)).fetchone()
        return str(row[0]) if row else None

    # -- values -----------------------------------------------------------------------------

    def seal(self, member_ref: UUID | str, plaintext: str) -> str:
        ref = str(member_ref)
        key = self._key(ref, create=True)
        if key is None:
            raise KeyStoreMissing(f"member {ref} was erased: nothing more is sealed for them")
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), ref.encode())
        return f"{PREFIX}{ref}:{base64.b64encode(sealed).decode()}"

    def unseal(self, value: str) -> str:
        """The plaintext, or "[erased]" when the member's key is gone."""
        if not is_sealed(value):
            return value
        ref, _, body = value[len(PREFIX):].partition(":")
        key = self._key(ref, create=False)
        if key is None:
            return ERASED
        blob = base64.b64decode(body)
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ref.encode()).decode()
        except InvalidTag:
            return "[unreadable]"

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


SEALED = "[sealed]"


def sealed_paths(value: object, path: str = "") -> list[tuple[str, str]]:
    """(path, sealed value) for every sealed string inside a JSON-like value."""
    if is_sealed(value):
        return [(path, value)]  # type: ignore[list-item]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in sealed_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list | tuple):
        return [found for i, v in enumerate(value) for found in sealed_paths(v, f"{path}[{i}]")]
    return []


def resolve(value: object, vault: MemberKeys | None, *, reveal: bool) -> object:
    """Every sealed string as a reader may see it: the plaintext when revealing, else
    "[sealed]"; "[erased]" whenever the member's key is gone."""
    if is_sealed(value):
        text = str(value)
        if vault is None:
            return SEALED
        if reveal:
            return vault.unseal(text)
        return SEALED if vault.has_key(sealed_member(text)) else ERASED
    if isinstance(value, dict):
        return {k: resolve(v, vault, reveal=reveal) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, vault, reveal=reveal) for v in value]
    return value
