"""The published language: every case event the four services record and publish."""

from events.envelope import CaseEvent, DomainEvent
from events.registry import REGISTRY

__all__ = ["REGISTRY", "CaseEvent", "DomainEvent"]
