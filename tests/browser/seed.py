"""A home for the browser tests, made before `cases serve` starts: the sample registers, and
(optionally) cases that went into review in June 2025 under the tests' settable clock, so that
today, on the real clock `cases serve` runs on, their reviews are long past due."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from tests.fixtures import POLICY, Desk, policy, request

IN_HOUSE_POLICY = "AXA-200300"
#: Every direct identifier of the sample request's member and GP (tests/fixtures.REQUEST), and of
#: the second member seed() makes.
IDENTIFIERS = ("John Roe", "4010232137", "Jane Doe", "Jane", "Doe", "9434765919", "943 476 5919", "1980-04-02", "SW1A 1AA",
               "jane@example.org", "07700900123", "Dr A Smith", "High Street Surgery", "gp@example.org")


def seed(home: Path, *, late_network: bool = False, late_in_house: bool = False) -> dict[str, UUID]:
    desk = Desk(home)
    try:
        desk.load_policies(POLICY, policy(number=IN_HOUSE_POLICY, model="in_house"))
        made = {}
        if late_network:
            made["network"] = desk.open()
            desk.to_review(made["network"])
        if late_in_house:
            # another member: each late case has a member reference of its own
            made["in_house"] = desk.open(request(policy_number=IN_HOUSE_POLICY, name="John Roe",
                                                 nhs_number="4010232137"))
            desk.to_review(made["in_house"], model="in_house")
        return made
    finally:
        desk.close()
