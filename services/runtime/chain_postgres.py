"""The hash-chain adapter on PostgreSQL (see chain.py). A module of its own so a command on
SQLite stores never imports PostgreSQL's driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder

from services.runtime.chain import ChainSql, extend_chain, service_writes


class ChainedPostgresProcessRecorder(PostgresProcessRecorder):
    @property
    def chain_sql(self) -> ChainSql:
        name = self.events_table_name.removesuffix("_events")
        return ChainSql(param="%s", table=f"{self.datastore.schema}.{name}_event_chain")

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.chain_sql.create.encode())

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        extend_chain(self.chain_sql, curs, stored_events, ids or [])
        return ids

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # Runs first in the transaction, with or without new events (tracking only).
        super()._insert_events(curs, stored_events, **kwargs)
        service_writes(curs, kwargs)
