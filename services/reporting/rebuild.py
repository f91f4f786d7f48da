"""`cases rebuild`: rebuild reporting's views from the log into fresh tables, compare them
with the live ones, then swap them in.

Embedded, the log is every service's store read from the start; over Kafka it is every
case topic read from offset 0 up to where it ended when the rebuild began. The fresh
views are built with the same projection code as the live ones, so a difference means
the live views drifted (a bug, or someone edited them): the command reports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from events.codec import decode, why_unreadable
from events.envelope import DomainEvent
from services.reporting.views import CaseViews, ViewSql, update_views, view_sql_for
from services.runtime.application import ServiceApplication

BATCH = 500
Progress = Callable[[int], None]


def store_batches(services: Mapping[str, ServiceApplication]) -> Iterator[list[DomainEvent]]:
    for app in services.values():
        for section in app.notification_sections(size=BATCH):
            yield [app.decode(n) for n in section]


def topic_batches(bootstrap: str, skipped: list[dict[str, Any]] | None = None) -> Iterator[list[DomainEvent]]:
    """Every case topic from offset 0. A message that does not decode (a poison message the
    workers dead-lettered; topics are kept for ever) is skipped and listed in `skipped`."""
    from kafka import KafkaConsumer

    from events.topics import SERVICES, case_topic
    from services.runtime.kafka.consumer import all_partitions
    from services.runtime.kafka.reader import read_to_end

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = all_partitions(consumer, [case_topic(s) for s in SERVICES])
        for messages in read_to_end(consumer, partitions, BATCH):
            batch = []
            for m in messages:
                try:
                    batch.append(decode(m.value))
                except Exception as error:  # noqa: BLE001 - any undecodable message is skipped, and said
                    if skipped is not None:
                        skipped.append({"topic": m.topic, "partition": m.partition, "offset": m.offset,
                                        "reason": why_unreadable(error)})
            yield batch
    finally:
        consumer.close()


def rebuild_views(reporting: ServiceApplication, batches: Iterable[list[DomainEvent]],
                  progress: Progress = lambda n: None) -> dict[str, Any]:
    recorder: Any = reporting.recorder
    live: ViewSql = view_sql_for(recorder.datastore)
    fresh = ViewSql(param=live.param, binary=live.binary, schema=live.schema,
                    prefix=f"reporting_rb{int(time.time() * 1000)}_")
    with recorder.datastore.transaction(commit=True) as c:
        for statement in fresh.create:
            c.execute(statement)
    try:
        events = 0
        for batch in batches:
            with recorder.datastore.transaction(commit=True) as c:
                update_views(fresh, c, batch)
            events += len(batch)
            progress(len(batch))
        differences = compare(CaseViews(recorder.datastore, live), CaseViews(recorder.datastore, fresh))
    except BaseException:
        drop(recorder, fresh)  # a failed rebuild leaves nothing behind
        raise
    swap(recorder, live, fresh)
    return {"events": events, "cases": len(CaseViews(recorder.datastore, live).all_states()),
            "equal_to_live": not differences, "differences": differences[:20]}


def compare(live: CaseViews, fresh: CaseViews) -> list[str]:
    old, new = live.states_by_case(), fresh.states_by_case()
    differences = [f"case {cid}: only in the live views" for cid in old.keys() - new.keys()]
    differences += [f"case {cid}: missing from the live views" for cid in new.keys() - old.keys()]
    differences += [f"case {cid}: state differs" for cid in old.keys() & new.keys() if old[cid] != new[cid]]
    return sorted(differences)


def drop(recorder: Any, fresh: ViewSql) -> None:
    with recorder.datastore.transaction(commit=True) as c:
        for table in fresh.tables:
            c.execute(f"DROP TABLE IF EXISTS {table}")


def swap(recorder: Any, live: ViewSql, fresh: ViewSql) -> None:
    """Replace the live tables by the fresh ones in one transaction: readers see either."""
    with recorder.datastore.transaction(commit=True) as c:
        for old, new in zip(live.tables, fresh.tables, strict=True):
            c.execute(f"DROP TABLE {old}")
            c.execute(f"ALTER TABLE {new} RENAME TO {old.split('.')[-1]}")
