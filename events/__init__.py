"""The published language: every case event the four services record and publish."""

import os

# pydantic hands every validation to each plugin installed in the environment (entry point
# group "pydantic"): a plugin would see every event, member identifiers included. None is
# used here, so none is loaded; that also spares each process pydantic's scan of every
# installed package's entry points (about 16 ms of a command's start, bench B8). Set
# before any model validates: pydantic reads it when it builds the first validator.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from events.envelope import CaseEvent, DomainEvent
from events.registry import REGISTRY

__all__ = ["REGISTRY", "CaseEvent", "DomainEvent"]
