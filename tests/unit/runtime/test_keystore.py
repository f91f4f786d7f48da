"""The members' key store: binding a case gives its member a key in the same write, and a
key from a write that did not commit is never used to seal."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from services.runtime.keystore import MemberKeys

KEK = bytes(range(32))


def test_binding_a_case_stores_the_members_key_with_the_binding(tmp_path: Path) -> None:
    keys = MemberKeys(tmp_path, KEK)
    case_id, member = uuid4(), uuid4()
    keys.bind(case_id, member)
    # Another process (a fresh store object) finds both, before anything was sealed.
    other = MemberKeys(tmp_path, KEK, readonly=True)
    assert other.member_of(case_id) == str(member)
    assert other.has_key(str(member))
    sealed = keys.seal(member, "Jane Example")
    assert other.unseal(sealed) == "Jane Example"


def test_a_key_made_in_a_bind_that_failed_is_not_used(tmp_path: Path) -> None:
    keys = MemberKeys(tmp_path, KEK)
    member = uuid4()
    with sqlite3.connect(tmp_path / "keys" / "members.sqlite") as db:
        db.execute("DROP TABLE case_members")  # the binding's insert fails inside the transaction
    with pytest.raises(sqlite3.OperationalError):
        keys.bind(uuid4(), member)
    assert not MemberKeys(tmp_path, KEK, readonly=True).has_key(str(member))  # rolled back with it
    # Sealing now makes and stores a key of its own, which any reader can use.
    sealed = keys.seal(member, "Jane Example")
    assert MemberKeys(tmp_path, KEK, readonly=True).unseal(sealed) == "Jane Example"
    assert not keys.db.in_transaction  # type: ignore[union-attr]
