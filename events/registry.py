"""The registry: wire type name -> event model, for every published event."""

from __future__ import annotations

from events import intake, records, reporting, review
from events.envelope import DomainEvent


def _collect() -> dict[str, type[DomainEvent]]:
    found: dict[str, type[DomainEvent]] = {}
    for module in (intake, records, review, reporting):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, DomainEvent)
                and value.type_name
                and value.__module__ == module.__name__
            ):
                if value.type_name in found:
                    raise RuntimeError(f"duplicate event type name {value.type_name!r}")
                found[value.type_name] = value
    return found


REGISTRY: dict[str, type[DomainEvent]] = _collect()

#: Types carrying direct identifiers: redacted in replay, never sent outside the insurer.
PERSONAL_DATA_TYPES = frozenset({intake.MemberIdentified.type_name})


def event_class(type_name: str) -> type[DomainEvent]:
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise UnknownEventType(type_name) from None


class UnknownEventType(LookupError):
    """A stored or received event names a type this build does not know."""
