"""Maps the published pydantic events to the store's rows and back (events/codec.py rules)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Mapper, StoredEvent

from events.codec import decode_stored, encode_state
from events.envelope import DomainEvent


class PublishedEventMapper(Mapper[Any]):
    """Stores each event under its wire type name, so the store never depends on a
    Python class path, and the bytes stored are the bytes a topic will carry."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: DomainEvent = domain_event
        state = encode_state(event)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=event.type_name,
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return decode_stored(stored_event.originator_id, stored_event.originator_version, state)
