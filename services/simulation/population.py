"""A realistic, seeded population: a policy register and a batch of case requests."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from services.intake.domain.calendar import add_years
from services.simulation.catalogue import (
    CONDITIONS,
    FIRST_NAMES,
    INSURERS,
    NATION_WEIGHTS,
    POSTCODES,
    SURNAMES,
)

UNDERWRITING = ["moratorium", "full_medical", "medical_history_disregarded"]


def policy_register(rng: random.Random, batch_begins: date, per_insurer: int = 20) -> list[dict[str, Any]]:
    """Mostly established policies; some joined recently, so the moratorium and the
    cover start date still matter for them."""
    policies = []
    for insurer, info in INSURERS.items():
        for n in range(per_insurer):
            if rng.random() < 0.2:
                start = batch_begins - timedelta(days=rng.randrange(-30, 500))
            else:
                start = date(2016, 1, 1) + timedelta(days=rng.randrange(0, 7 * 365))
            status = rng.choices(["active", "lapsed", "cancelled"], [0.95, 0.03, 0.02])[0]
            included = rng.random() > 0.03
            exclusions = rng.sample([c[1].split(".")[0] for c in CONDITIONS] + ["asthma", "K80.2"],
                                    k=rng.choice([0, 0, 1, 2]))
            policies.append({
                "number": f"{info['prefix']}-{100000 + n * 7 + len(insurer)}",
                "insurer": insurer,
                "product": info["product"],
                "start_date": start.isoformat(),
                "end_date": None,
                "status": status,
                "underwriting": rng.choices(UNDERWRITING, [0.55, 0.35, 0.10])[0],
                "exclusions": exclusions,
                "second_opinion": {"included": included, "model": info["model"],
                                   "sla_working_days": info["sla"]},
            })
    return policies


def nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=False)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def case_request(rng: random.Random, policy: dict[str, Any], requested_on: date,
                 unknown_policy: bool = False) -> dict[str, Any]:
    name, icd10, specialty, nature, treatment = rng.choice(CONDITIONS)
    nation = rng.choices(list(NATION_WEIGHTS), list(NATION_WEIGHTS.values()))[0]
    diagnosed_on = requested_on - timedelta(days=rng.randrange(2, 45))
    start = date.fromisoformat(policy["start_date"])
    history: list[str] = []
    if rng.random() < 0.25:  # symptoms before cover: the moratorium's question
        history.append((start - timedelta(days=rng.randrange(30, 4 * 365))).isoformat())
        if rng.random() < 0.5:
            later = add_years(start, 2) + timedelta(days=rng.randrange(0, 200))
            if later < diagnosed_on:
                history.append(later.isoformat())
    born = requested_on - timedelta(days=rng.randrange(22 * 365, 80 * 365))
    first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
    request: dict[str, Any] = {
        "policy_number": "UNKNOWN-" + str(rng.randrange(10**6)) if unknown_policy else policy["number"],
        "requested_on": requested_on.isoformat(),
        "member": {
            "name": f"{first} {last}",
            "date_of_birth": born.isoformat(),
            "nhs_number": nhs_number(rng),
            "postcode": rng.choice(POSTCODES[nation]),
            "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}@example.org",
            "phone": f"07700 900{rng.randrange(1000):03d}",
            "nation": nation,
        },
        "condition": {
            "name": name, "icd10": icd10, "specialty": specialty,
            "nature": "chronic" if nature == "chronic" and rng.random() < 0.4 else "acute",
            "diagnosed_on": diagnosed_on.isoformat(), "history": history,
        },
        "diagnosis": {"by": f"Consultant in {specialty}", "summary": f"{name} confirmed on investigation"},
        "proposed_treatment": treatment,
    }
    if rng.random() < 0.9:
        request["gp"] = {"name": f"Dr {rng.choice(SURNAMES)}", "practice": "Health Centre",
                         "email": "practice@example.nhs.uk"}
    return request
