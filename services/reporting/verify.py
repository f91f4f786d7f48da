"""`cases verify`: the auditor's check that no stored event was edited, deleted, inserted
or swapped, in any service's store (see services/runtime/chain.py for the chain).

It recomputes every store's chain from the stored bytes and names each broken link by
service, position (notification id), stream, version and type. It also prints a head
digest, `service:position:link` for each store, which an auditor can write down and
check later with `--expect`: the chain must still pass through those links.

Nothing needs to be written down to detect the loss of a store's newest events (events and
chain rows deleted together leave a consistent, shorter chain): every other store that
follows it keeps, in its own tracking records, the position it applied, and the store's
own outbox relay keeps the position it published. A store whose newest position is below
any of these witnesses lost events; verify names the store, the witness and both positions.

Over Kafka, every dead letter is listed with its state (services/reporting/dead_letters.py).
An open one fails the check: a service did not apply a message. One that was retried (its
effect is stored) or resolved (a person reviewed it; the resolution is in reporting's log)
does not, and neither does the message it parked: a poison message stays on its case topic
for ever, and once every service that failed it has been dealt with, its "on the topic but
not in the store" finding is listed with the dead letters instead of failing the check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.runtime.application import ServiceApplication
from services.runtime.chain import GENESIS, event_digest, link
from services.runtime.collector import collector_paused
from services.runtime.kafka.config import CLI_PRINCIPAL, KafkaSettings
from services.runtime.stores import is_postgres


@collector_paused()  # reads the whole log (runtime/collector.py)
def verify_stores(services: Mapping[str, ServiceApplication], expect: str | None = None) -> dict[str, Any]:
    broken: list[dict[str, Any]] = []
    heads: dict[str, tuple[int, str]] = {}
    links: dict[str, dict[int, str]] = {}
    total = 0
    newest: dict[str, int] = {}
    for name, app in services.items():
        events = {n.id: n for n in all_notifications(app)}
        total += len(events)
        chain = chain_rows(app)
        links[name] = {row["notification_id"]: row["link"] for row in chain}
        newest[name] = max([0, *events, *(row["notification_id"] for row in chain)])
        broken += check_store(name, app, events, chain)
        if chain:
            heads[name] = (chain[-1]["notification_id"], chain[-1]["link"])
    broken += check_witnesses(services, newest)
    if expect:
        broken += check_expected(expect, links)
    return {"ok": not broken, "events": total, "broken": broken, "head": head_digest(heads)}


def check_store(name: str, app: ServiceApplication, events: dict[int, Any], chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    broken = []
    digests = {row["digest"]: row["notification_id"] for row in chain}
    previous = GENESIS
    for row in chain:
        position = row["notification_id"]
        where = {"service": name, "position": position, "stream": row["stream"],
                 "version": row["version"], "type": row["type"]}
        event = events.pop(position, None)
        if event is None:
            broken.append({**where, "problem": "deleted: the chain has an event the store no longer holds"})
        else:
            digest = event_digest(event.originator_id, event.originator_version, event.topic, event.state)
            if digest != row["digest"]:
                other = digests.get(digest)
                problem = (f"swapped: holds the event chained at position {other}" if other is not None
                           else "edited: the stored event differs from what was chained")
                broken.append({**where, "problem": problem})
            elif not decodes(app, event):
                broken.append({**where, "problem": "undecodable"})
        if link(previous, position, row["digest"]) != row["link"]:
            broken.append({**where, "problem": "chain link altered"})
        previous = row["link"]
    for position, event in sorted(events.items()):
        broken.append({"service": name, "position": position, "stream": str(event.originator_id),
                       "version": event.originator_version, "type": event.topic,
                       "problem": "inserted: a stored event that is not in the chain"})
    return broken


def check_witnesses(services: Mapping[str, ServiceApplication], newest: dict[str, int]) -> list[dict[str, Any]]:
    """Each position another store (or the store's own relay) recorded as applied or
    published must still be in the store it came from."""
    broken = []
    for witness, app in services.items():
        for tracked, position in tracking_positions(app).items():
            leader = witnessed_store(tracked, witness, services)
            if leader is None or position <= newest[leader]:
                continue
            who = "its own outbox relay" if leader == witness else witness
            broken.append({"service": leader, "position": position, "witness": who,
                           "problem": f"truncated: {who} recorded position {position} of {leader},"
                                      f" whose store now ends at {newest[leader]}: its newest events"
                                      " were deleted"})
    return broken


def witnessed_store(tracked: str, witness: str, services: Mapping[str, Any]) -> str | None:
    """The store a tracking name speaks for: "intake" (embedded: a notification id of
    intake's), "outbox:cases.intake.v1" (the store's own relay). Over Kafka a follower
    tracks partition offsets ("intake.2"), which say nothing of the leader's positions: there
    the relay and the topic copy (verify_topics) witness the store."""
    if tracked.startswith("outbox:"):
        return witness
    return tracked if tracked in services else None


def tracking_positions(app: ServiceApplication) -> dict[str, int]:
    recorder: Any = app.recorder
    if is_postgres(recorder.datastore):
        table = f"{recorder.datastore.schema}.{recorder.tracking_table_name}"
    else:
        table = "tracking"  # eventsourcing's SQLite tracking table
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT application_name, MAX(notification_id) AS position FROM {table}"
                  " GROUP BY application_name")
        return {row["application_name"]: int(row["position"]) for row in c.fetchall()}


def check_expected(expect: str, links: dict[str, dict[int, str]]) -> list[dict[str, Any]]:
    broken = []
    for part in expect.split(","):
        try:
            service, position, prefix = part.split(":")
            found = links.get(service, {}).get(int(position))
        except ValueError:
            return [{"service": "-", "position": None, "problem": f"not a head digest: {expect!r}"}]
        if found is None or not found.startswith(prefix):
            broken.append({"service": service, "position": int(position),
                           "problem": "the chain no longer passes through the expected digest"})
    return broken


def head_digest(heads: dict[str, tuple[int, str]]) -> str:
    return ",".join(f"{name}:{position}:{value[:16]}" for name, (position, value) in heads.items())


def decodes(app: ServiceApplication, event: Any) -> bool:
    try:
        app.mapper.to_domain_event(event)
    except Exception:  # noqa: BLE001 - any failure to decode is the finding itself
        return False
    return True


def all_notifications(app: ServiceApplication) -> list[Any]:
    return [n for section in app.notification_sections() for n in section]


def chain_rows(app: ServiceApplication) -> list[dict[str, Any]]:
    recorder: Any = app.recorder
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(recorder.chain_sql.select_all)
        return [dict(row) for row in c.fetchall()]


def verify_topics(services: Mapping[str, ServiceApplication], settings: KafkaSettings) -> list[dict[str, Any]]:
    """Over Kafka: every message on a case topic must be, byte for byte, the event its
    service stored at that position, and every event the relay confirmed must be there."""
    from kafka import KafkaConsumer

    from events.codec import encode
    from events.topics import case_topic
    from services.runtime.kafka.consumer import all_partitions
    from services.runtime.kafka.outbox import relay_name
    from services.runtime.kafka.reader import read_to_end

    broken: list[dict[str, Any]] = []
    consumer = KafkaConsumer(**settings.client_config(CLI_PRINCIPAL), group_id=None, enable_auto_commit=False)
    try:
        for name, app in services.items():
            topic = case_topic(name)
            stored = {n.id: n for n in all_notifications(app)}
            partitions = all_partitions(consumer, [topic])
            seen: set[int] = set()
            for message in (m for chunk in read_to_end(consumer, partitions) for m in chunk):
                headers = {k: v.decode(errors="replace") for k, v in message.headers or []}
                position = as_position(headers.get("notification_id"))
                event = stored.get(position)
                where = {"service": name, "position": position,
                         "topic": f"{topic}[{message.partition}]@{message.offset}"}
                if event is None:
                    broken.append({**where, "problem": "on the topic but not in the store"})
                elif message.value != encode(app.decode(event)):
                    broken.append({**where, "type": event.topic,
                                   "problem": "the topic's copy differs from the stored event"})
                seen.add(position)
            relayed = app.recorder.max_tracking_id(relay_name(topic)) or 0
            for position in sorted(p for p in stored if p <= relayed and p not in seen):
                broken.append({"service": name, "position": position, "type": stored[position].topic,
                               "problem": "relayed but missing from the topic"})
    finally:
        consumer.close()
    return broken


def as_position(header: str | None) -> int:
    """A message's notification_id header as a position (0 when missing or not a number:
    a forged message can carry anything)."""
    return int(header) if header and header.isdigit() and len(header) < 19 else 0


TOPIC_PLACE = re.compile(r"^(.+)\[(\d+)\]@(\d+)$")


def with_dead_letters(result: dict[str, Any], reporting: ServiceApplication,
                      settings: KafkaSettings) -> dict[str, Any]:
    """Over Kafka: the dead letters, each with its state, in `dead_letters`; an open one is a
    finding; a topic finding about a message whose every dead letter was handled is not."""
    from services.reporting.dead_letters import dead_letters, handling, listing
    from services.runtime.kafka.deadletters import read_dead_letters

    rows = listing(dead_letters(read_dead_letters(settings)), handling(reporting))
    by_origin: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["origin"] is not None:
            origin = row["origin"]
            by_origin.setdefault(f"{origin['topic']}:{origin['partition']}:{origin['offset']}", []).append(row)
    handled = {origin for origin, letters in by_origin.items()
               if all(letter["state"] != "open" for letter in letters)}
    broken = [b for b in result["broken"] if topic_origin(b) not in handled]
    for row in rows:
        if row["state"] == "open":
            origin = row["origin"]
            where = f"{origin['topic']}[{origin['partition']}]@{origin['offset']}" if origin else "an unknown place"
            broken.append({"service": "deadletter", "position": int(row["id"].split(".")[-1]),
                           "dead_letter": row["id"],
                           "problem": f"dead letter {row['id']} is open: {row['consumer']} could not apply"
                                      f" the message at {where} ({row['reason']}); see `cases deadletter"
                                      " list`, then retry or resolve it"})
    return {**result, "ok": not broken, "broken": broken, "dead_letters": rows}


def topic_origin(finding: dict[str, Any]) -> str | None:
    """`topic:partition:offset` of a topic finding (verify_topics writes `topic[p]@o`)."""
    match = TOPIC_PLACE.match(str(finding.get("topic", "")))
    return f"{match.group(1)}:{match.group(2)}:{match.group(3)}" if match else None
