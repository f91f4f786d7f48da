"""Envelope fields shared by every published event (the contract's header)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class DomainEvent(BaseModel):
    """An immutable fact recorded by one service.

    `originator_id` and `originator_version` place the event in its aggregate's stream
    (the store's optimistic-concurrency key); `event_id` names the fact itself, and the
    causation and correlation ids say which command or upstream event led to it.
    """

    # defer_build: each event class's validator is built when first used, not at import (a
    # command start imported all ~80 and built every one: a sixth of `cases show`).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    #: Stable wire name, for example "consent_granted"; never the Python class path.
    type_name: ClassVar[str] = ""
    #: Major version of this event's payload; bump with an upcaster in events/upcasting.py.
    schema_version: ClassVar[int] = 1
    #: The service that records this event: intake, records, review or reporting.
    service: ClassVar[str] = ""

    originator_id: UUID = Field(description="Id of the aggregate stream the event belongs to")
    originator_version: int = Field(ge=1, description="Position in the aggregate stream")
    event_id: UUID = Field(description="Unique id of this fact")
    occurred_at: datetime = Field(description="When it happened (timezone-aware)")
    actor: str = Field(description="Who or what caused it: a user, a partner or a service")
    causation_id: UUID | None = Field(
        default=None, description="The command or event that directly caused this one"
    )
    correlation_id: UUID | None = Field(
        default=None, description="The request that started the chain this event is part of"
    )

    @property
    def timestamp(self) -> datetime:
        """The eventsourcing library's name for `occurred_at`."""
        return self.occurred_at

    @property
    def type(self) -> str:
        return self.type_name


class CaseEvent(DomainEvent):
    """An event that belongs to one second-opinion case."""

    case_id: UUID = Field(description="The case this event belongs to")

