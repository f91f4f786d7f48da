"""Who acts, when, and why: the context every command and reaction runs in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Protocol
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class SettableClock:
    """A clock the demo and the tests move by hand; it never goes backwards."""

    def __init__(self, start: datetime):
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment > self._now:
            self._now = moment

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self._now = self._now + timedelta(**delta)
        return self._now


def london_date(moment: datetime) -> date:
    """The UK calendar date of a moment: SPEC's 'today' and 'the day the review starts'."""
    return moment.astimezone(LONDON).date()


@dataclass(frozen=True)
class Context:
    """The actor, the moment, and the ids that tie an event to what caused it."""

    actor: str
    now: datetime
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None

    @property
    def today(self) -> date:
        return london_date(self.now)

    def caused_by(self, event_id: UUID, actor: str | None = None) -> Context:
        return replace(self, causation_id=event_id, actor=actor or self.actor)
