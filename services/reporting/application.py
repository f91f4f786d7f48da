"""Reporting: the report and its delivery, and the projections every reader uses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar
from uuid import UUID

from events.envelope import DomainEvent
from events.registry import REGISTRY
from events.reporting import DeadLetterOutcome
from events.review import OpinionSubmitted
from services.common.context import Context
from services.common.errors import Refused, UnknownCase
from services.reporting.domain.dead_letter import DeadLetterHandling, DeadLetterRef
from services.reporting.domain.report import CaseReport
from services.reporting.projections.case_state import as_seen_on
from services.reporting.views import CaseViews, view_sql_for
from services.runtime.application import Reaction, ServiceApplication, TransactionWrite


class Reporting(ServiceApplication):
    name = "reporting"

    def __init__(self, env: dict[str, str], clock: Any = None):
        super().__init__(env, clock)
        self.views = CaseViews(self.recorder.datastore)  # type: ignore[attr-defined]

    # -- the store --------------------------------------------------------------------------

    def extra_tables(self) -> list[str]:
        return [*super().extra_tables(), *view_sql_for(self.recorder.datastore).create]  # type: ignore[attr-defined]

    def transaction_writes(self, upstream: Sequence[DomainEvent],
                           recorded: Sequence[DomainEvent]) -> TransactionWrite:
        """Every event reporting records, and every upstream event it tracks, reaches the
        views in the same transaction: a view never misses or double-counts an event."""
        events = [*upstream, *recorded]
        return lambda cursor: self.views.update(cursor, events)

    # -- metrics ----------------------------------------------------------------------------

    def register_metrics(self, registry: Any) -> None:
        from services.reporting.metrics import CaseGauges

        self.gauges = CaseGauges(registry)

    def refresh_metrics(self) -> None:
        gauges = getattr(self, "gauges", None)
        if gauges is not None:
            gauges.update(self.views.count_by_status(), self.views.all_states())

    # -- commands -------------------------------------------------------------------------

    def deliver_report(self, case_id: UUID, ctx: Context) -> None:
        # As seen on the command's own day, never the process clock's: the command may run in
        # the worker, whose clock is not the caller's (a replayed or simulated day).
        case = self.case_state(case_id, ctx.today)
        report = self.load(CaseReport, case_id) or CaseReport(case_id)
        report.deliver(case, ctx)
        self.save(report)

    def close_case(self, case_id: UUID, reason: str, ctx: Context) -> None:
        self.case_state(case_id, ctx.today)  # an unknown case is bad input
        report = self.load(CaseReport, case_id)
        if report is None:
            raise Refused("report_not_delivered", "a case closes only after its report went out")
        report.close(reason, ctx)
        self.save(report)

    def dead_letter_handling(self, ref: DeadLetterRef) -> DeadLetterHandling:
        """How a dead letter was handled so far (new: never handled)."""
        return self.load(DeadLetterHandling, ref.stream_id) or DeadLetterHandling(ref.stream_id)

    def record_dead_letter_retry(self, ref: DeadLetterRef, outcome: DeadLetterOutcome,
                                 reason: str | None, ctx: Context) -> None:
        """A person handed a dead letter again to the service that failed it; `outcome` says
        what that service made of it. Refused once the dead letter was resolved."""
        handling = self.dead_letter_handling(ref)
        handling.retried(ref, outcome, reason, ctx)
        self.save(handling)

    def resolve_dead_letter(self, ref: DeadLetterRef, by: str, note: str, ctx: Context) -> None:
        """A person reviewed a dead letter and decided it needs nothing further."""
        handling = self.dead_letter_handling(ref)
        handling.resolve(ref, by, note, ctx)
        self.save(handling)

    def rebuild_views_from_topics(self, bootstrap: str) -> dict[str, Any]:
        """`cases rebuild` over Kafka, run by reporting's own worker (the only process that
        writes reporting's store): every case topic from offset 0, skipping and naming any
        undecodable message; the views folded from them are compared with the live ones, and
        written afresh and swapped in where they differ."""
        from services.reporting.rebuild import rebuild_views, topic_batches

        skipped: list[dict[str, Any]] = []

        def log() -> Any:  # read once to check, again to write: the skipped are named once
            skipped.clear()
            return topic_batches(bootstrap, skipped)

        result = rebuild_views(self, log, lambda n: None)
        result["skipped"] = skipped
        return result

    # -- reads ------------------------------------------------------------------------------

    def case_state(self, case_id: UUID, today: date | None = None) -> dict[str, Any]:
        """The case as the views hold it, as seen on `today` (default: the clock's): a
        running review past its due date reads as breached before the clock recorded it."""
        state = self.views.case_state(case_id)
        if state is None:
            raise UnknownCase(case_id)
        return as_seen_on(state, today or Context(actor="", now=self.clock.now()).today)

    # -- reactions ------------------------------------------------------------------------

    def on_opinion_submitted(self, event: OpinionSubmitted, ctx: Context) -> CaseReport:
        return CaseReport.prepare(self.load(CaseReport, event.case_id), event, ctx)

    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {OpinionSubmitted: on_opinion_submitted}


# Reporting reads every case event of every upstream service: the views take them all.
Reporting.topics = tuple(sorted(REGISTRY))
