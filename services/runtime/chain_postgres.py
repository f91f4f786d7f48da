"""The hash-chain adapter on PostgreSQL (see chain.py). A module of its own so a command on
SQLite stores never imports PostgreSQL's driver."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder

from services.runtime.chain import ChainHead, ChainSql, extend_chain, service_writes


class ChainedPostgresProcessRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: PostgresDatastore, *args: Any, **kwargs: Any):
        # No server-side prepared statements on the store's sessions. Why: the library
        # prepares its writes inside a pipelined transaction, and when a concurrent writer
        # made that transaction fail, psycopg could keep the name of a statement the server
        # never prepared; the session's next write then failed with 'prepared statement
        # "_pg3_8" does not exist' (seen in CI with twenty commands at once). Unprepared,
        # a write costs one parse more, and a store also works behind a PgBouncer in
        # transaction mode, where prepared statements do not survive. Set before the
        # library's constructor, which opens the pool's first connection.
        connect = datastore.pool.kwargs
        assert isinstance(connect, dict)  # the library passes its connection settings as one
        connect["prepare_threshold"] = None
        super().__init__(datastore, *args, **kwargs)
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
