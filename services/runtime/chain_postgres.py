"""The hash-chain adapter on PostgreSQL (see chain.py). A module of its own so a command on
SQLite stores never imports PostgreSQL's driver."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder

from services.runtime.chain import ChainHead, ChainSql, extend_chain, service_writes


class ChainedPostgresProcessRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.chain_head = ChainHead()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.chain_head.committing():
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        return ids

    @cached_property
    def chain_sql(self) -> ChainSql:
        name = self.events_table_name.removesuffix("_events")
        return ChainSql(param="%s", table=f"{self.datastore.schema}.{name}_event_chain")

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.chain_sql.create.encode())

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        extend_chain(self.chain_sql, curs, stored_events, ids or [], self.chain_head)
        return ids

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # Runs first in the transaction, with or without new events (tracking only).
        super()._insert_events(curs, stored_events, **kwargs)
        service_writes(curs, kwargs)
