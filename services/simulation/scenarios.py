"""Case journeys for the demo: the happy path and the unhappy ones, as timed scripts.

Each script is a generator: it acts on the case through the services' commands (the
same calls the CLI makes), then yields how long until its next step.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from services.bootstrap import Deployment
from services.common.context import LONDON, Context
from services.common.errors import Refused
from services.intake.request_file import parse_case_request
from services.review.domain.sla import add_working_days, working_days_between
from services.simulation.catalogue import RECORD_SOURCES

Step = Iterator[timedelta | datetime]

PLANS = {
    "happy": 0.62,
    "reviewer_declines": 0.07,
    "conflict_of_interest": 0.04,
    "late_opinion": 0.08,
    "withdraw_during_collection": 0.04,
    "withdraw_during_review": 0.04,
    "records_unobtainable": 0.05,
    "member_cancels": 0.06,
}
OUTCOMES = {"confirmed": 0.55, "alternative_treatment": 0.25, "diagnosis_changed": 0.12,
            "inconclusive": 0.08}


class Simulation:
    """The services driven as a case handler, a member and reviewers would."""

    def __init__(self, runtime: Deployment):
        from services.simulation.network import SimulatedNetwork

        self.rt = runtime
        self.refusals: dict[str, int] = {}
        self.plans: dict[str, str] = {}
        self.network = SimulatedNetwork(self)

    def ctx(self, actor: str) -> Context:
        return Context(actor=actor, now=self.rt.clock.now())

    def do(self, action: Any, *args: Any, actor: str = "user:case_handler") -> bool:
        try:
            action(*args, self.ctx(actor))
        except Refused as refusal:
            self.refusals[refusal.code] = self.refusals.get(refusal.code, 0) + 1
            return False
        finally:
            self.rt.pump()
        return True

    def state(self, case_id: UUID) -> dict[str, Any]:
        return self.rt.reporting.case_state(case_id)


def hours(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low, high))


def on_day(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), LONDON)


def case_journey(sim: Simulation, request: dict[str, Any], rng: random.Random) -> Step:
    import json

    ctx = sim.ctx("user:case_handler")
    case_id = UUID(int=rng.getrandbits(128), version=4)  # seeded: the same batch every run
    opened = sim.rt.intake.open_case(parse_case_request(json.dumps(request), ctx.today), ctx, case_id)
    sim.rt.pump()
    if opened.status == "declined":
        return
    cid, model = opened.case_id, opened.model
    plan = rng.choices(list(PLANS), list(PLANS.values()))[0]
    sim.plans[str(cid)] = plan
    records, review = sim.rt.records, sim.rt.review

    yield hours(rng, 2, 48)
    if plan == "member_cancels" and rng.random() < 0.5:
        sim.do(sim.rt.intake.cancel_case, cid, "member no longer wants a second opinion", "member")
        return
    if rng.random() < 0.15:
        # A case handler tries to collect before consent: the rule refuses it.
        sim.do(records.request_records, cid, "gp_summary", "Registered GP practice")
    sim.do(records.grant_consent, cid, "records_access", "member_portal", actor="member")
    yield hours(rng, 4, 72)

    if plan == "withdraw_during_collection":
        sim.do(records.withdraw_consent, cid, "records_access", "member_portal", actor="member")
        yield hours(rng, 48, 120)
        if rng.random() < 0.5:
            sim.do(sim.rt.intake.cancel_case, cid, "member withdrew consent", "member")
            return
        sim.do(records.grant_consent, cid, "records_access", "member_portal", actor="member")
        yield hours(rng, 2, 24)

    kinds = rng.sample(list(RECORD_SOURCES), k=rng.randint(1, 3))
    for index, kind in enumerate(kinds):
        source = RECORD_SOURCES[kind]
        sim.do(records.request_records, cid, kind, source)
        yield hours(rng, 24, 96)
        if plan == "records_unobtainable" and index == 0:
            sim.do(records.mark_unobtainable, cid, source, "records destroyed after retention period")
            yield hours(rng, 48, 120)
            sim.do(records.add_record, cid, "gp_summary", "Member's own copy", actor="member")
            continue
        sim.do(records.add_record, cid, kind, source)
    yield hours(rng, 2, 24)
    sim.do(records.complete_records, cid)
    if model == "third_party":
        yield hours(rng, 12, 72)
        sim.do(records.grant_consent, cid, "third_party_disclosure", "member_portal", actor="member")

    state = sim.state(cid)
    if state["status"] != "in_review":
        return
    nation = state["nation"]

    if plan in ("reviewer_declines", "conflict_of_interest") and model != "third_party":
        yield hours(rng, 3, 20)
        if plan == "reviewer_declines":
            sim.do(review.decline, cid, rng.choice(["capacity", "out_of_scope"]), actor="reviewer")
        else:
            sim.do(review.declare_conflict, cid, "treated the member privately in 2023", actor="reviewer")
    if plan == "withdraw_during_review":
        yield hours(rng, 20, 50)
        scope = "third_party_disclosure" if model == "third_party" else "records_access"
        sim.do(records.withdraw_consent, cid, scope, "phone", actor="member")
        yield hours(rng, 48, 96)
        sim.do(records.grant_consent, cid, scope, "phone", actor="member")
    if plan == "member_cancels":
        yield hours(rng, 20, 60)
        sim.do(sim.rt.intake.cancel_case, cid, "member chose NHS treatment", "member")
        return
    if model == "further_consultation":
        appointment = sim.state(cid)["review"].get("appointment")
        if appointment:
            yield on_day(date.fromisoformat(appointment["on"]), 10)
            sim.do(review.attend_appointment, cid, actor="reviewer")

    yield from partner_answers(sim, cid, plan, nation, rng)
    if sim.state(cid)["opinion"] is None:
        yield from reviewer_answers(sim, cid, plan, nation, rng)

    if sim.state(cid)["opinion"] is None:
        return  # the review could not finish (for instance, no reviewer left)
    yield hours(rng, 2, 30)
    if rng.random() < 0.65:
        sim.do(records.grant_consent, cid, "share_with_gp", "member_portal", actor="member")
        yield hours(rng, 1, 6)
    sim.do(sim.rt.reporting.deliver_report, cid)
    yield hours(rng, 24, 120)
    sim.do(sim.rt.reporting.close_case, cid, "report_issued")


def partner_answers(sim: Simulation, cid: UUID, plan: str, nation: str, rng: random.Random) -> Step:
    """A referral to the registered partner: it answers by its deadline over its gateway;
    on a late_opinion plan it misses the deadline, the review clock routes the case to the
    in-house team, and its late answer is rejected."""
    respond_by = sim.network.deadline(cid)
    if respond_by is None:
        return
    outcome = rng.choices(list(OUTCOMES), list(OUTCOMES.values()))[0]
    if plan == "late_opinion":
        answer_day = add_working_days(respond_by, 2, nation)
    else:
        left = working_days_between(sim.ctx("clock").today, respond_by, nation)
        answer_day = add_working_days(sim.ctx("clock").today, rng.randint(1, max(1, left)), nation)
    yield on_day(answer_day, 15)
    sim.network.answer(cid, outcome, f"Opinion: {outcome.replace('_', ' ')}")


def reviewer_answers(sim: Simulation, cid: UUID, plan: str, nation: str, rng: random.Random) -> Step:
    """The assigned reviewer (or, for a network that answers by other means, its opinion
    keyed in by the case handler) gives the opinion; late on a late_opinion plan."""
    today = sim.ctx("clock").today
    due = date.fromisoformat(sim.state(cid)["review_due"])
    if plan == "late_opinion":
        opinion_day = add_working_days(max(due, today), rng.randint(1, 3), nation)
    else:
        left = working_days_between(today, due, nation)
        opinion_day = add_working_days(today, rng.randint(1, max(1, left)), nation)
    yield on_day(opinion_day, 15)
    outcome = rng.choices(list(OUTCOMES), list(OUTCOMES.values()))[0]
    reviewer = (sim.state(cid)["review"] or {}).get("reviewer") or "Network expert"
    sim.do(sim.rt.review.submit_opinion, cid, outcome, f"Opinion: {outcome.replace('_', ' ')}", reviewer,
           actor=f"reviewer:{reviewer}")
