"""The two ways a command can fail: bad input (exit 2) and a business refusal (exit 1)."""

from __future__ import annotations


class BadInput(ValueError):
    """The input is malformed or invalid; nothing was recorded. Names the field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Refused(Exception):
    """A business rule refused the command; nothing was recorded.

    `code` is a stable snake_case reason for machines; the message is for people and
    must never carry a direct identifier.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class UnknownCase(BadInput):
    def __init__(self, case_id: object):
        super().__init__("case_id", f"no case {case_id}")


class ServiceUnavailable(RuntimeError):
    """Infrastructure the command needs is not there (a broker, a worker); exit 3."""
