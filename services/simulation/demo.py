"""`cases demo`: a seeded batch of cases driven end to end on the embedded runtime."""

from __future__ import annotations

import heapq
import json
import random
import shutil
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from rich.progress import Progress

from services.bootstrap import Deployment, EmbeddedRuntime
from services.common.context import LONDON, Context, SettableClock, london_date
from services.intake.register_file import parse_register
from services.review.reviewers_file import parse_reviewers
from services.simulation.catalogue import reviewer_directory
from services.simulation.population import case_request, policy_register
from services.simulation.scenarios import Simulation, case_journey
from services.simulation.summary import summarise

WINDOW_DAYS = 150  # the batch starts this long ago and ends well before today


DeploymentFactory = Callable[[Path, SettableClock], Deployment]


def run_demo(home: Path, *, cases: int, seed: int, fresh: bool, quiet: bool,
             deployment: DeploymentFactory = EmbeddedRuntime) -> dict[str, Any]:
    """Run the batch on a deployment: embedded by default, or over Kafka (the workers
    must then be running against the same home)."""
    if fresh and home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    begin = datetime.combine(london_date(datetime.now(LONDON)) - timedelta(days=WINDOW_DAYS),
                             time(8, 0), LONDON)
    clock = SettableClock(begin)
    rt = deployment(home, clock)
    try:
        sim = Simulation(rt)
        policies = policy_register(rng, begin.date())
        setup = Context(actor="user:demo", now=clock.now())
        rt.intake.load_policies(parse_register(json.dumps({"policies": policies})), setup)
        rt.review.register_reviewers(parse_reviewers(json.dumps({"reviewers": reviewer_directory()})), setup)
        rt.pump()
        sim.network.register()  # the expert network, as a partner: simulated in process
        journeys = schedule(sim, rng, policies, cases, begin)
        run_schedule(sim, journeys, cases, quiet)
        return summarise(rt, sim, seed=seed, cases=cases)
    finally:
        rt.close()


def schedule(sim: Simulation, rng: random.Random, policies: list[dict[str, Any]], cases: int,
             begin: datetime) -> list[tuple[datetime, int, Iterator[Any]]]:
    queue: list[tuple[datetime, int, Iterator[Any]]] = []
    for n in range(cases):
        requested = within_office_hours(
            begin + timedelta(days=rng.uniform(0, WINDOW_DAYS - 60), hours=rng.uniform(0, 9)))
        policy = rng.choice(policies)
        request = case_request(rng, policy, london_date(requested), unknown_policy=rng.random() < 0.02)
        journey = case_journey(sim, request, random.Random(rng.random()))
        queue.append((requested, n, journey))
    queue.append((begin, cases, daily_sla_check(sim, begin)))
    heapq.heapify(queue)
    return queue


def daily_sla_check(sim: Simulation, begin: datetime) -> Iterator[datetime]:
    """Every evening the review clock looks for running reviews past their due date."""
    day = begin.date()
    while day < date.today():
        yield datetime.combine(day, time(18, 0), LONDON)
        sim.rt.flag_overdue_reviews()  # also routes anew referrals past their partner's deadline
        sim.network.acknowledge_recalls()
        day += timedelta(days=1)


def run_schedule(sim: Simulation, queue: list[tuple[datetime, int, Iterator[Any]]], cases: int,
                 quiet: bool) -> None:
    clock: SettableClock = sim.rt.clock  # type: ignore[assignment]
    with Progress(disable=quiet, transient=True) as progress:
        task = progress.add_task("Running cases", total=cases)
        while queue:
            when, n, journey = heapq.heappop(queue)
            clock.set(when)
            try:
                nxt = next(journey)
            except StopIteration:
                if n < cases:
                    progress.advance(task)
                continue
            at = nxt if isinstance(nxt, datetime) else clock.now() + nxt
            if n < cases:
                at = within_office_hours(at)
            heapq.heappush(queue, (max(at, clock.now()), n, journey))


def within_office_hours(at: datetime) -> datetime:
    """People act on weekdays between 08:00 and 18:00 London time."""
    local = at.astimezone(LONDON)
    if local.hour >= 18:
        local = datetime.combine(local.date() + timedelta(days=1), time(8, 30), LONDON)
    elif local.hour < 8:
        local = datetime.combine(local.date(), time(8, 30), LONDON)
    while local.weekday() >= 5:
        local = datetime.combine(local.date() + timedelta(days=1), time(8, 30), LONDON)
    return local
