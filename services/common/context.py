"""Who acts, when, and why: the context every command and reaction runs in."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class Clock(Protocol):
    def now(self) -> datetime: ...


_TICK = timedelta(microseconds=1)
#: A settable clock's readings are this far apart: further than any chain of reactions
#: (each a microsecond after its cause), so a command never sorts before an earlier
#: command's consequences.
_READ_STEP = timedelta(milliseconds=1)


class SystemClock:
    """Wall-clock time that never repeats a reading, so every command has its own moment."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        self._last = max(datetime.now(UTC), self._last + _TICK)
        return self._last


class SettableClock:
    """A clock the demo and the tests move by hand; it never goes backwards, and
    successive readings advance a little, so commands keep their order."""

    def __init__(self, start: datetime):
        self._now = start
        self._reads = 0

    def now(self) -> datetime:
        self._reads += 1
        return self._now + self._reads * _READ_STEP

    def set(self, moment: datetime) -> None:
        if moment > self._now + self._reads * _READ_STEP:
            self._now, self._reads = moment, 0

    def advance(self, **delta: float) -> datetime:
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
