"""Reporting: the report and its delivery, and the projections every reader uses."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import Recording

from events.envelope import DomainEvent
from events.registry import REGISTRY
from events.review import OpinionSubmitted
from services.common.context import Context
from services.common.errors import Refused, UnknownCase
from services.reporting.domain.report import CaseReport
from services.reporting.views import CaseViews, PostgresReportingRecorder, SQLiteReportingRecorder
from services.runtime.application import ServiceApplication


class Reporting(ServiceApplication):
    name = "reporting"
    recorder_classes: ClassVar[dict[str, type]] = {
        "sqlite": SQLiteReportingRecorder, "postgres": PostgresReportingRecorder}
    reactions: ClassVar[dict[type[DomainEvent], str]] = {OpinionSubmitted: "on_opinion_submitted"}

    def __init__(self, env: dict[str, str] | None = None, clock: Any = None):
        super().__init__(env, clock)
        self.views = CaseViews(self.recorder)  # type: ignore[arg-type]

    # -- commands -------------------------------------------------------------------------

    def deliver_report(self, case_id: UUID, ctx: Context) -> None:
        case = self.case_state(case_id)
        report = self.load(CaseReport, case_id) or CaseReport(case_id)
        report.deliver(case, ctx)
        self.save(report)

    def close_case(self, case_id: UUID, reason: str, ctx: Context) -> None:
        self.case_state(case_id)
        report = self.load(CaseReport, case_id)
        if report is None:
            raise Refused("report_not_delivered", "a case closes only after its report went out")
        report.close(reason, ctx)
        self.save(report)

    def case_state(self, case_id: UUID) -> dict[str, Any]:
        state = self.views.case_state(case_id)
        if state is None:
            raise UnknownCase(case_id)
        return state

    # -- reactions ------------------------------------------------------------------------

    def on_opinion_submitted(self, event: OpinionSubmitted, processing: ProcessingEvent[UUID], ctx: Context) -> None:
        report = CaseReport.prepare(self.load(CaseReport, event.case_id), event, ctx)
        processing.collect_events(report)

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        processing_event.saved_kwargs.setdefault("upstream", []).append(domain_event)
        super().policy(domain_event, processing_event)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Every event this store records, and every upstream event it tracks, reaches
        the views in the same transaction."""
        upstream = processing_event.saved_kwargs.pop("upstream", [])
        view_events = [*upstream, *processing_event.events]
        processing_event.saved_kwargs["view_events"] = view_events
        return super()._record(processing_event)


# Reporting reads every case event of every upstream service (it builds the views).
Reporting.topics = tuple(sorted(REGISTRY))
