"""Review: routing by delivery model, the reviewer directory, the SLA clock, opinions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import Tracking

from events import intake, records
from events.envelope import DomainEvent
from events.intake import CaseCancelled
from events.partner import OpinionGiven
from events.records import CaseReadyForReview, ReviewConsentWithdrawn, ReviewPackPrepared
from services.common.aggregate import Aggregate
from services.common.context import Context, london_date
from services.common.errors import Refused
from services.review import book_snapshots
from services.review.domain.partners import PartnerLedger, ledger_id
from services.review.domain.review import CaseReview
from services.review.domain.reviewers import DIRECTORY_ID, Reviewer, ReviewerDirectory
from services.review.partner_messages import OUTBOUND_TYPES, ToPartner, parse_partner_message, to_partner
from services.review.referral_book import BOOK_TYPES, ReferralBook
from services.review.review_clock import CLOCK_TYPES, ReviewClock
from services.runtime.application import Reaction, ServiceApplication
from services.runtime.keystore import MemberKeys as Vault


class _Folds(Protocol):
    position: int

    def fold(self, events: Iterable[DomainEvent]) -> None: ...

    def dump(self) -> bytes: ...


#: A book kept from review's own log (ReferralBook, ReviewClock).
Book = TypeVar("Book", bound=_Folds)


@dataclass(frozen=True)
class PartnerVerdict:
    """What became of a partner's message: accepted, or rejected with a reason code of
    events/partner.py OpinionRejected and a detail naming the field."""

    partner: str
    accepted: bool
    reason: str | None = None
    detail: str = ""
    pack_id: UUID | None = None
    message_id: UUID | None = None
    case_id: UUID | None = None


class Review(ServiceApplication):
    name = "review"

    def __init__(self, env: dict[str, str], clock: Any = None, *, vault: Vault | None):
        super().__init__(env, clock)
        self.vault = vault  # seals the opinion's free text under the member's key
        self._book = ReferralBook()
        self._clock = ReviewClock()
        #: Per book, the position of the snapshot this process last read or stored.
        self._snapshot_at: dict[str, int] = {}

    def extra_tables(self) -> list[str]:
        return [*super().extra_tables(), book_snapshots.create_statement(self.recorder.datastore)]  # type: ignore[attr-defined]

    # -- directory ------------------------------------------------------------------------

    def register_reviewers(self, reviewers: Iterable[Reviewer], ctx: Context) -> int:
        """Add or update reviewers; a review that was waiting for one is assigned now, in
        the same transaction."""
        directory = self.directory()
        before = directory.version
        for reviewer in reviewers:
            directory.register(reviewer, ctx)
        changed = directory.version - before
        waiting = [r for r in (self.load(CaseReview, case_id) for case_id in self.waiting_for_reviewer())
                   if r is not None]
        for review in waiting:
            review.assign_if_waiting(directory, ctx)
        self.save(directory, *waiting)
        return changed

    def directory(self) -> ReviewerDirectory:
        return self.load(ReviewerDirectory, DIRECTORY_ID) or ReviewerDirectory()

    # -- reviewer partners ----------------------------------------------------------------

    def register_partner(self, name: str, specialties: Iterable[str], ctx: Context) -> bool:
        """Register a partner as the network for its specialties (or change them): new
        third-party referrals of those specialties go to it. False when nothing changed."""
        directory = self.directory()
        changed = directory.register_partner(name, tuple(specialties), ctx)
        self.save(directory)
        return changed

    def remove_partner(self, name: str, reason: str, ctx: Context) -> list[UUID]:
        """Remove a partner; each of its open referrals is routed anew, in the same
        transaction. Returns the cases routed anew."""
        directory = self.directory()
        directory.remove_partner(name, reason, ctx)
        moved = []
        for referral in self.referral_book().open_to(name):
            review = self.load(CaseReview, referral.case_id)
            if review is not None and review.drop_partner(name, directory, ctx):
                moved.append(review)
        self.save(directory, *moved)
        return [r.id for r in moved]

    def partners(self) -> list[dict[str, Any]]:
        """Every registered partner, its specialties and its open referrals."""
        directory, book = self.directory(), self.referral_book()
        return [{"partner": name, "specialties": list(specialties),
                 "open_referrals": [{"case_id": str(r.case_id),
                                     "respond_by": r.respond_by.isoformat() if r.respond_by else None}
                                    for r in book.open_to(name)]}
                for name, specialties in sorted(directory.partners.items())]

    def referral_book(self) -> ReferralBook:
        """The book of referrals, brought up to date with what was stored since last read."""
        self._book = self._caught_up(self._book, BOOK_TYPES, "referral_book", ReferralBook.load)
        return self._book

    def review_clock(self) -> ReviewClock:
        """Running reviews' due dates and the reviews waiting for a reviewer, brought up to
        date with what was stored since last read."""
        self._clock = self._caught_up(self._clock, CLOCK_TYPES, "review_clock", ReviewClock.load)
        return self._clock

    def _caught_up(self, book: Book, topics: list[str], name: str,
                   from_snapshot: Callable[[int, bytes], Book]) -> Book:
        """`book` with what was stored since its position folded in. A process's first read
        starts from the stored snapshot, if one holds (book_snapshots.py), and a process
        that folded much stores a new one."""
        if name not in self._snapshot_at:
            found = book_snapshots.load(self.recorder, name)
            if found is not None and found[0] > book.position:
                with suppress(ValueError, LookupError, TypeError):  # a state this code cannot read: fold
                    book = from_snapshot(*found)
            self._snapshot_at[name] = book.position
        while section := self.recorder.select_notifications(start=book.position + 1, limit=1000,
                                                            topics=topics):
            book.fold(self.decode(n) for n in section)
            book.position = section[-1].id
        if book.position - self._snapshot_at[name] >= book_snapshots.SNAPSHOT_AFTER:
            book_snapshots.save(self.recorder, name, book.position, book.dump())
            self._snapshot_at[name] = book.position
        return book

    def kept_pack(self, case_id: UUID, pack_id: UUID) -> Any:
        """The pack review kept for a referral (None if it has none: an older case)."""
        review = self.load(CaseReview, case_id)
        return review.packs.get(pack_id) if review is not None else None

    # -- messages out to partners ---------------------------------------------------------

    def partner_outbox(self, after: int = 0, limit: int = 200) -> tuple[int, list[tuple[str, ToPartner]]]:
        """The messages for registered partners in review's stored events after notification
        `after`: (the last notification read, [(partner, message)]). Each message's id is its
        event's id. A partner no longer registered is told nothing more."""
        notifications = self.recorder.select_notifications(start=after + 1, limit=limit, topics=OUTBOUND_TYPES)
        if not notifications:
            return after, []
        partners = set(self.directory().partners)
        unseal = self.vault.unseal if self.vault is not None else (lambda _: "[unreadable]")
        found = (to_partner(self.decode(n), self.kept_pack, unseal) for n in notifications)
        return notifications[-1].id, [m for m in found if m is not None and m[0] in partners]

    # -- a partner's message in -----------------------------------------------------------

    def receive_partner_message(self, partner: str, raw: bytes | str, ctx: Context,
                                tracking: Tracking | None = None) -> PartnerVerdict:
        """Judge a message from the partner's opinions topic and record what it decides,
        in one transaction with `tracking` (its topic position), if given."""
        verdict, changed = self.judge_partner_message(partner, raw, ctx)
        self.record_verdict(changed, tracking)
        return verdict

    def record_verdict(self, changed: list[Aggregate], tracking: Tracking | None = None) -> None:
        self.commit([e for aggregate in changed for e in aggregate.collect_events()], tracking=tracking)

    def judge_partner_message(self, partner: str, raw: bytes | str,
                              ctx: Context) -> tuple[PartnerVerdict, list[Aggregate]]:
        """An opinion on a pack referred to THIS partner, still open, not answered: the
        pack is re-identified (`partner_opinion_received`) and the case gets its opinion.
        A recall acknowledgement of a recalled pack is recorded. Anything else changes
        nothing but the audit: a rejection on the pack's case or, naming no case of ours,
        on the partner's ledger. Nothing is stored yet: the caller records `changed`."""
        parsed = parse_partner_message(raw)
        case_id = self.referral_book().owner.get(parsed.pack_id) if parsed.pack_id else None
        review = self.load(CaseReview, case_id) if case_id is not None else None

        def reject(reason: str, detail: str) -> tuple[PartnerVerdict, list[Aggregate]]:
            verdict = PartnerVerdict(partner, False, reason, detail, parsed.pack_id, parsed.message_id, case_id)
            if review is not None and parsed.pack_id is not None:
                review.reject_partner_message(partner, parsed.pack_id, reason, detail, parsed.message_id, ctx)
                return verdict, [review]
            ledger = self.load(PartnerLedger, ledger_id(partner)) or PartnerLedger.of(partner)
            ledger.reject(partner, parsed.pack_id, reason, detail, parsed.message_id, ctx)
            return verdict, [ledger]

        message = parsed.message
        if message is None:
            return reject("invalid", parsed.problem or "message: invalid")
        if review is None:
            return reject("unknown_pack", "pack_id: no pack with this id was sent to you")
        if isinstance(message, OpinionGiven):
            problem = review.judge_partner_opinion(partner, message.pack_id, message.message_id)
            if problem is not None:
                return reject(*problem)
            review.accept_partner_opinion(partner, message.pack_id, message.message_id, message.outcome,
                                          self.sealed(review.id, message.summary), message.reviewer,
                                          self.directory(), ctx)
        else:
            problem = review.judge_recall_acknowledgement(partner, message.pack_id, message.message_id)
            if problem is not None:
                return reject(*problem)
            review.acknowledge_recall(partner, message.pack_id, message.message_id, ctx)
        return PartnerVerdict(partner, True, None, "", message.pack_id, message.message_id, review.id), [review]

    def sealed(self, case_id: UUID, text: str) -> str:
        """Free text sealed under the case's member's key (an opinion may name them)."""
        member = self.vault.member_of(case_id) if self.vault is not None else None
        if self.vault is None or member is None:
            raise RuntimeError("no key for this case's member: the opinion cannot be sealed")
        return self.vault.seal(member, text)

    # -- commands -------------------------------------------------------------------------

    def submit_opinion(self, case_id: UUID, outcome: str, summary: str, reviewer: str, ctx: Context) -> None:
        summary = self.sealed(case_id, summary)
        directory = self.directory()
        self._change(case_id, lambda r: r.submit_opinion(outcome, summary, reviewer, directory, ctx))

    def decline(self, case_id: UUID, reason: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.decline(reason, directory, ctx))

    def declare_conflict(self, case_id: UUID, nature: str, ctx: Context) -> None:
        directory = self.directory()
        self._change(case_id, lambda r: r.declare_conflict(nature, directory, ctx))

    def attend_appointment(self, case_id: UUID, ctx: Context) -> None:
        self._change(case_id, lambda r: r.attend_appointment(ctx))

    def _change(self, case_id: UUID, command: Callable[[CaseReview], None]) -> None:
        review = self.load(CaseReview, case_id)
        if review is None:
            raise Refused("not_in_review", "the case is not in review")
        command(review)
        self.save(review)

    # -- the SLA clock ----------------------------------------------------------------------

    def on_timer(self, now: datetime) -> int:
        """The clock's tick: flag every running review past its due date; route anew each
        referral past its partner's deadline; flag each recall not acknowledged in time."""
        ctx = Context(actor="service:review", now=now)
        flagged = self.flag_overdue_reviews(london_date(now), ctx)
        if flagged and self.breaches is not None:
            self.breaches.labels(self.name).inc(flagged)
        return flagged + self.sweep_partner_deadlines(now, ctx)

    def sweep_partner_deadlines(self, now: datetime, ctx: Context) -> int:
        book, today = self.referral_book(), london_date(now)
        late, unacknowledged = book.late(today), book.unacknowledged(now)
        if not late and not unacknowledged:
            return 0
        directory = self.directory()
        changed, moved = [], 0
        for case_id in sorted(late | unacknowledged):
            review = self.load(CaseReview, case_id)
            if review is None:
                continue
            moved += review.miss_partner_deadline(today, directory, ctx)
            moved += review.flag_overdue_recalls(now, ctx)
            changed.append(review)
        self.save(*changed)
        return moved

    breaches: Any = None  # the worker's counter, once registered

    def register_metrics(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.breaches = Counter("cases_sla_breaches_flagged",
                                "Reviews flagged as past their SLA by the review clock",
                                ["service"], registry=registry)
        self.breaches.labels(self.name)

    def flag_overdue_reviews(self, today: date, ctx: Context) -> int:
        """Record a breach on every running review whose due date has passed."""
        flagged = []
        for case_id in self.review_clock().overdue(today):
            review = self.load(CaseReview, case_id)
            if review is not None:
                review.flag_breach_if_overdue(today, ctx)
                flagged.append(review)
        self.save(*flagged)
        return sum(1 for r in flagged if r.breached)

    def running_reviews(self) -> dict[UUID, date]:
        """Due dates of reviews neither finished, stopped, suspended nor already breached."""
        return dict(self.review_clock().due)

    def waiting_for_reviewer(self) -> list[UUID]:
        """Reviews that found no reviewer in the directory and still have none."""
        return self.review_clock().waiting_for_reviewer()

    # -- reactions ------------------------------------------------------------------------

    def on_review_pack_prepared(self, event: ReviewPackPrepared, ctx: Context) -> CaseReview:
        return CaseReview.keep_pack(self.load(CaseReview, event.case_id), event, ctx)

    def on_case_ready(self, event: CaseReadyForReview, ctx: Context) -> CaseReview:
        review = self.load(CaseReview, event.case_id)
        if review is None or not review.started:
            return CaseReview.start(event, self.directory(), ctx, review)
        review.resume(event, self.directory(), ctx)
        return review

    def on_review_consent_withdrawn(self, event: ReviewConsentWithdrawn, ctx: Context) -> CaseReview | None:
        review = self.load(CaseReview, event.case_id)
        if review is not None:
            review.suspend(f"{event.scope}_withdrawn", ctx)
        return review

    def on_case_cancelled(self, event: CaseCancelled, ctx: Context) -> CaseReview | None:
        review = self.load(CaseReview, event.case_id)
        if review is not None:
            review.stop("case_cancelled", ctx)
        return review

    reactions: ClassVar[dict[type[DomainEvent], Reaction]] = {
        ReviewPackPrepared: on_review_pack_prepared,
        CaseReadyForReview: on_case_ready,
        ReviewConsentWithdrawn: on_review_consent_withdrawn,
        CaseCancelled: on_case_cancelled,
    }
    #: Its leaders' events review does not act on: it starts from `case_ready_for_review`,
    #: which records sends once records, consents and (third party) the pack are in place.
    ignores: ClassVar[frozenset[type[DomainEvent]]] = frozenset({
        intake.PolicyTermsRecorded, intake.CaseOpened, intake.MemberIdentified,
        intake.EligibilityConfirmed, intake.EligibilityDeclined, intake.CaseConcluded,
        intake.IdentityRevealed, intake.MemberErased,
        records.CaseFileOpened, records.ConsentRequested, records.CaseFileClosed,
        records.ConsentGranted, records.ConsentWithdrawn, records.RecordsRequested, records.RecordReceived,
        records.RecordsUnobtainable, records.RecordsCompleted, records.CollectionSuspended,
        records.CollectionResumed, records.ReviewPackRecalled,
    })
