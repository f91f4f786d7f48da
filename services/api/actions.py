"""Every command of the API, one function each, over the same applications the command line
drives: the same validation, one call to the owning service, the same result as the CLI's
`--json`. The JSON routes (app.py) and the web page (pages.py) both call these.

Each function takes the `Desk` (which opens the deployment as the CLI does, one per
command), the `Principal` and validated inputs, checks the caller's right first (rights.py:
a refusal there is 403 and records nothing), and returns a dict. Values sealed under a
member's key come back as "[sealed]" ("[erased]" once the member's key is gone); with
`reveal=True` they come back in plaintext only after the read was recorded on the case
(identity_revealed, naming the reader), so the replay lists it under `reads`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from services.api.auth import Principal
from services.api.rights import Forbidden, permit
from services.common.context import Clock, Context, SystemClock
from services.common.errors import BadInput, ServiceUnavailable, UnknownCase

if TYPE_CHECKING:
    from services.bootstrap import Deployment
    from services.runtime.kafka.config import KafkaSettings

CONSENT_SCOPES = ("records_access", "third_party_disclosure", "share_with_gp")
RECORD_KINDS = ("clinical_letter", "imaging", "pathology", "blood_test", "treatment_plan", "gp_summary")
OUTCOMES = ("confirmed", "alternative_treatment", "diagnosis_changed", "inconclusive")
DECLINE_REASONS = ("capacity", "out_of_scope", "unavailable")
CANCELLED_BY = ("member", "insurer")
#: SPEC section 4: a case request (or any request body) over 1 MiB is refused.
BODY_MAX_BYTES = 1024 * 1024


class NoStoresYet(Exception):
    """A read on a home where nothing was recorded yet."""


class Desk:
    """Where the API's commands run: the deployment under `home` (embedded, or over Kafka
    with `bus`), opened for each command and closed after it, exactly as a `cases` command
    opens it, so the API and the CLI can work on the same home side by side."""

    def __init__(self, home: Path, clock: Clock | None = None, bus: KafkaSettings | None = None):
        self.home = home
        self.clock = clock or SystemClock()
        self.bus = bus

    def context(self, principal: Principal) -> Context:
        return Context(actor=f"user:{principal.name}", now=self.clock.now())

    @contextmanager
    def writing(self) -> Iterator[Deployment]:
        """A deployment that records. Embedded, opening it is also the clock's tick and
        finishes what a process that died left half-way (over Kafka the workers do both)."""
        from services.bootstrap import deployment

        rt = deployment(self.home, self.clock, bus=self.bus)
        try:
            if self.bus is None:
                rt.pump()
                rt.tick()
            yield rt
        finally:
            rt.close()

    @contextmanager
    def reading(self) -> Iterator[Deployment]:
        """Every store read-only: a read writes nothing, not even a missing home."""
        from services.bootstrap import deployment
        from services.runtime.stores import NoStores

        try:
            rt = deployment(self.home, self.clock, readonly=True, bus=self.bus)
        except (NoStores, FileNotFoundError):
            raise NoStoresYet() from None
        try:
            yield rt
        except NoStores:  # a read opens each store when it first reads it
            raise NoStoresYet() from None
        finally:
            rt.close()

    def command(self, principal: Principal, action: str, call: Callable[[Deployment], Any]) -> Any:
        """One change, after the right was checked: the result, marked when the followers
        had not caught up (it happened; do not send it again)."""
        permit(principal, action)
        with self.writing() as rt:
            result = call(rt)
            if not rt.settled and isinstance(result, dict):
                result = {**result, "settled": False,
                          "pending": getattr(rt, "unsettled_reason", "the services have not caught up")}
        return result


# -- showing sealed values --------------------------------------------------------------------


def present(desk: Desk, who: Principal, result: dict[str, Any], *, reveal: bool = False) -> dict[str, Any]:
    """Sealed values as this reader may see them. A reveal is for case handlers, auditors
    and admins only, and is recorded on the case before anything is shown."""
    from services.bootstrap import open_vault
    from services.runtime.keystore import resolve, sealed_paths

    if reveal:
        permit(who, "reveal")
    found = sealed_paths(result)
    if not found:
        return result
    vault = open_vault(desk.home, readonly=True)
    try:
        if reveal and vault is not None and result.get("case_id"):
            readable = sorted({path for path, value in found if vault.unseal(value) != "[erased]"})
            if readable:
                record_reveal(desk, who, UUID(str(result["case_id"])), readable)
        return resolve(result, vault, reveal=reveal)  # type: ignore[return-value]
    finally:
        if vault is not None:
            vault.close()


def record_reveal(desk: Desk, who: Principal, case_id: UUID, fields: list[str]) -> None:
    shown = tuple(sorted({re.sub(r"\[\d+\]", "", f) for f in fields}))[:50]
    with desk.writing() as rt:
        rt.command(lambda: rt.intake.record_reveal(case_id, shown, f"read over the API ({who.role})",
                                                   desk.context(who)))


# -- the registers ----------------------------------------------------------------------------


def load_policies(desk: Desk, who: Principal, register_json: str) -> dict[str, Any]:
    """SPEC section 3's register file, validated as `cases policies load` does."""
    from services.intake.register_file import parse_register

    permit(who, "load_policies")
    terms = parse_register(register_json)
    loaded = desk.command(who, "load_policies",
                          lambda rt: rt.command(lambda: rt.intake.load_policies(terms, desk.context(who))))
    return {"loaded": loaded}


def load_reviewers(desk: Desk, who: Principal, directory_json: str) -> dict[str, Any]:
    from services.review.reviewers_file import parse_reviewers

    permit(who, "load_reviewers")
    entries = parse_reviewers(directory_json)
    changed = desk.command(who, "load_reviewers", lambda rt: rt.command(
        lambda: rt.review.register_reviewers(entries, desk.context(who))))
    return {"loaded": len(entries), "changed": changed}


# -- a case's commands ------------------------------------------------------------------------


def open_case(desk: Desk, who: Principal, request_json: str) -> dict[str, Any]:
    """SPEC section 4's request, validated as `cases open` does; declined is a case too."""
    from services.intake.request_file import parse_case_request

    permit(who, "open_case")
    ctx = desk.context(who)
    request = parse_case_request(request_json, ctx.today)
    opened = desk.command(who, "open_case", lambda rt: rt.command(lambda: rt.intake.open_case(request, ctx)))
    return opened.as_json()  # type: ignore[no-any-return]


def _case_change(desk: Desk, who: Principal, action: str, case_id: UUID,
                 change: Callable[[Deployment, Context], None]) -> dict[str, Any]:
    permit(who, action)

    def run(rt: Deployment) -> dict[str, Any]:
        if who.role == "clinician":
            must_be_assigned(who, rt.reporting.case_state(case_id), action)
        ctx = desk.context(who)
        return rt.case_command(case_id, lambda: change(rt, ctx))

    return present(desk, who, desk.command(who, action, run))


def grant_consent(desk: Desk, who: Principal, case_id: UUID, scope: str,
                  channel: str = "case_handler") -> dict[str, Any]:
    choice(scope, CONSENT_SCOPES, "scope")
    require_text(channel, "channel")
    return consents_json(_case_change(desk, who, "grant_consent", case_id,
                                      lambda rt, ctx: rt.records.grant_consent(case_id, scope, channel, ctx)))


def withdraw_consent(desk: Desk, who: Principal, case_id: UUID, scope: str,
                     channel: str = "case_handler") -> dict[str, Any]:
    choice(scope, CONSENT_SCOPES, "scope")
    require_text(channel, "channel")
    return consents_json(_case_change(desk, who, "withdraw_consent", case_id,
                                      lambda rt, ctx: rt.records.withdraw_consent(case_id, scope, channel, ctx)))


def add_record(desk: Desk, who: Principal, case_id: UUID, kind: str, source: str) -> dict[str, Any]:
    choice(kind, RECORD_KINDS, "kind")
    require_text(source, "source")
    return records_json(_case_change(desk, who, "add_record", case_id,
                                     lambda rt, ctx: rt.records.add_record(case_id, kind, source, ctx)))


def request_records(desk: Desk, who: Principal, case_id: UUID, kind: str, source: str) -> dict[str, Any]:
    choice(kind, RECORD_KINDS, "kind")
    require_text(source, "source")
    return records_json(_case_change(desk, who, "request_records", case_id,
                                     lambda rt, ctx: rt.records.request_records(case_id, kind, source, ctx)))


def mark_unobtainable(desk: Desk, who: Principal, case_id: UUID, source: str, reason: str) -> dict[str, Any]:
    require_text(source, "source")
    require_text(reason, "reason")
    return records_json(_case_change(desk, who, "mark_unobtainable", case_id,
                                     lambda rt, ctx: rt.records.mark_unobtainable(case_id, source, reason, ctx)))


def complete_records(desk: Desk, who: Principal, case_id: UUID) -> dict[str, Any]:
    return records_json(_case_change(desk, who, "complete_records", case_id,
                                     lambda rt, ctx: rt.records.complete_records(case_id, ctx)))


def submit_opinion(desk: Desk, who: Principal, case_id: UUID, outcome: str, summary: str,
                   reviewer: str | None = None) -> dict[str, Any]:
    """A clinician gives opinions in their own name, on the cases assigned to them; a case
    handler or an admin records one on a reviewer's behalf and names the reviewer."""
    choice(outcome, OUTCOMES, "outcome")
    require_text(summary, "summary")
    if who.role == "clinician":
        if reviewer is not None and same_name(reviewer) != same_name(who.name):
            raise Forbidden(who, "submit_opinion", "a clinician gives opinions in their own name only")
        reviewer = who.name
    if reviewer is None:
        raise BadInput("reviewer", "is required")
    require_text(reviewer, "reviewer")
    author = reviewer
    return _case_change(desk, who, "submit_opinion", case_id,
                        lambda rt, ctx: rt.review.submit_opinion(case_id, outcome, summary, author, ctx))


def decline_review(desk: Desk, who: Principal, case_id: UUID, reason: str) -> dict[str, Any]:
    choice(reason, DECLINE_REASONS, "reason")
    return _case_change(desk, who, "decline_review", case_id,
                        lambda rt, ctx: rt.review.decline(case_id, reason, ctx))


def declare_conflict(desk: Desk, who: Principal, case_id: UUID, nature: str) -> dict[str, Any]:
    require_text(nature, "nature")
    return _case_change(desk, who, "declare_conflict", case_id,
                        lambda rt, ctx: rt.review.declare_conflict(case_id, nature, ctx))


def attend_appointment(desk: Desk, who: Principal, case_id: UUID) -> dict[str, Any]:
    return _case_change(desk, who, "attend_appointment", case_id,
                        lambda rt, ctx: rt.review.attend_appointment(case_id, ctx))


def deliver_report(desk: Desk, who: Principal, case_id: UUID) -> dict[str, Any]:
    return _case_change(desk, who, "deliver_report", case_id,
                        lambda rt, ctx: rt.reporting.deliver_report(case_id, ctx))


def cancel_case(desk: Desk, who: Principal, case_id: UUID, reason: str = "member_request",
                by: str = "member") -> dict[str, Any]:
    choice(by, CANCELLED_BY, "by")
    require_text(reason, "reason")
    return _case_change(desk, who, "cancel_case", case_id,
                        lambda rt, ctx: rt.intake.cancel_case(case_id, reason, by, ctx))  # type: ignore[arg-type]


def close_case(desk: Desk, who: Principal, case_id: UUID, reason: str = "report_issued") -> dict[str, Any]:
    require_text(reason, "reason")
    return _case_change(desk, who, "close_case", case_id,
                        lambda rt, ctx: rt.reporting.close_case(case_id, reason, ctx))


def sla_sweep(desk: Desk, who: Principal) -> dict[str, Any]:
    def run(rt: Deployment) -> dict[str, Any]:
        rt.tick()
        breached = sum(1 for s in rt.reporting.views.all_states() if s["sla_breached"])
        return {"breached": breached, "by_status": rt.reporting.views.count_by_status()}

    return desk.command(who, "sla_sweep", run)  # type: ignore[no-any-return]


def erase_member(desk: Desk, who: Principal, case_id: UUID, reason: str) -> dict[str, Any]:
    """SPEC section 10: refused (case_open) while any case of the member is open."""
    require_text(reason, "reason")
    return desk.command(who, "erase_member",  # type: ignore[no-any-return]
                        lambda rt: rt.erase_member(case_id, reason, desk.context(who)))


# -- reviewer partners (SPEC section 9) -------------------------------------------------------
# The checks and the work are the command line's (services/partners_admin.py); only the field
# names are the body's. The password goes to the broker and nowhere else.


def partner_add(desk: Desk, who: Principal, name: str, specialties: list[str], password: str) -> dict[str, Any]:
    """`cases partner add`: with a bus the broker first (topics, SCRAM user, ACLs), then
    review's directory; a broker that cannot be reached is 503 with nothing recorded."""
    from services import partners_admin

    permit(who, "partner_add")
    partners_admin.check_name(name, "name")
    wanted = partners_admin.check_specialties(specialties, "specialties")
    partners_admin.check_password(password, "password")
    return partners_admin.add_partner(name, wanted, password, bus=desk.bus,
                                      write=lambda call: desk.command(who, "partner_add", call),
                                      context=lambda: desk.context(who))


def partner_remove(desk: Desk, who: Principal, name: str, reason: str | None = None) -> dict[str, Any]:
    """`cases partner remove`: refused (unknown_partner) unless registered; access revoked
    first (with a bus), then its open referrals are routed anew."""
    from services import partners_admin

    permit(who, "partner_remove")
    partners_admin.check_name(name, "name")
    why = partners_admin.check_reason(partners_admin.DEFAULT_REASON if reason is None else reason, "reason")

    def registered() -> bool:
        try:
            with desk.reading() as rt:
                return partners_admin.is_registered(rt, name)
        except NoStoresYet:
            return False

    return partners_admin.remove_partner(name, why, bus=desk.bus, registered=registered,
                                         write=lambda call: desk.command(who, "partner_remove", call),
                                         context=lambda: desk.context(who))


def partner_list(desk: Desk, who: Principal) -> dict[str, Any]:
    """`cases partner list`: the partners, their specialties, topics and open referrals."""
    from services import partners_admin

    permit(who, "partner_list")
    try:
        with desk.reading() as rt:
            return partners_admin.list_partners(rt)
    except NoStoresYet:
        return {"partners": []}


# -- reads ------------------------------------------------------------------------------------


def sla_due(desk: Desk, who: Principal, start: date, working_days: int, nation: str) -> dict[str, Any]:
    from services.review.domain.sla import NATIONS, due_date

    permit(who, "sla_due")
    if working_days < 0:
        raise BadInput("working_days", "must not be negative")
    choice(nation, NATIONS, "nation")
    return {"due": due_date(start, working_days, nation).isoformat()}


def show_case(desk: Desk, who: Principal, case_id: UUID, *, reveal: bool = False) -> dict[str, Any]:
    permit(who, "show_case")
    state = _read(desk, lambda rt: rt.reporting.case_state(case_id), case_id)
    return present(desk, who, state, reveal=reveal)


def replay_case(desk: Desk, who: Principal, case_id: UUID, *, as_of: datetime | None = None,
                steps: bool = False, reveal: bool = False) -> dict[str, Any]:
    """Every event of the case across the four services, the state they fold to (as of a
    moment, where given), and the findings, including every recorded read (`reads`)."""
    from services.reporting.replay import replay

    permit(who, "replay_case")
    events = _read(desk, lambda rt: case_trail(rt, case_id), case_id)
    if not events:
        raise UnknownCase(case_id)
    result = {"case_id": str(case_id), "as_of": as_of.isoformat() if as_of else None,
              **replay(events, as_of, with_steps=steps)}
    if reveal:  # record first, then read the trail again so the replay shows this very read
        present(desk, who, result, reveal=True)
        events = _read(desk, lambda rt: case_trail(rt, case_id), case_id)
        result = {"case_id": str(case_id), "as_of": as_of.isoformat() if as_of else None,
                  **replay(events, as_of, with_steps=steps)}
        return _unsealed(desk, result)
    return present(desk, who, result)


def _unsealed(desk: Desk, result: dict[str, Any]) -> dict[str, Any]:
    from services.bootstrap import open_vault
    from services.runtime.keystore import resolve

    vault = open_vault(desk.home, readonly=True)
    try:
        return resolve(result, vault, reveal=True)  # type: ignore[return-value]
    finally:
        if vault is not None:
            vault.close()


def case_trail(rt: Deployment, case_id: UUID) -> list[Any]:
    from services.reporting.replay import case_events

    if rt.replays_from_stores:
        return case_events(rt.services, case_id)
    return rt.reporting.views.audit_trail(case_id)  # over Kafka: what reporting built from the topics


def consent_history(desk: Desk, who: Principal, case_id: UUID) -> dict[str, Any]:
    permit(who, "consent_history")

    def rows(rt: Deployment) -> list[dict[str, Any]]:
        rt.reporting.case_state(case_id)
        return rt.reporting.views.consent_history(case_id)

    return present(desk, who, {"case_id": str(case_id), "history": _read(desk, rows, case_id)})


def verify(desk: Desk, who: Principal, expect: str | None = None) -> dict[str, Any]:
    """The tamper-evidence check over every store (and, over Kafka, the topics)."""
    from services.reporting.verify import verify_stores, verify_topics

    permit(who, "verify")
    if expect is not None and not HEAD_DIGEST.fullmatch(expect.strip()):
        raise BadInput("expect", "must be a head digest as verify printed it "
                                 "(SERVICE:POSITION:16 hex digits, comma-separated)")

    def check(rt: Deployment) -> dict[str, Any]:
        result = verify_stores(rt.services, expect)
        settings = getattr(rt, "settings", None)
        if settings is not None:
            result["broken"] += verify_topics(rt.services, settings.bootstrap)
            result["ok"] = not result["broken"]
        return result

    try:
        with desk.reading() as rt:
            return check(rt)
    except NoStoresYet:
        return {"ok": True, "events": 0, "broken": [], "head": ""}


def analytics(desk: Desk, who: Principal) -> dict[str, Any]:
    """Weekly de-identified aggregates, as `cases analytics` prints them."""
    from services.bootstrap import load_keys
    from services.reporting.analytics.weeks import weekly_analytics

    permit(who, "analytics")
    try:
        with desk.reading() as rt:
            weeks = weekly_analytics(rt, lambda: load_keys(rt.home, create=False).analytics)
    except NoStoresYet:
        weeks = []
    return {"weeks": weeks, "cases": sum(w["opened"] for w in weeks)}


def signing_key(desk: Desk, who: Principal) -> dict[str, Any]:
    """The public key that signs this deployment's evidence bundles."""
    from services.bootstrap import load_keys
    from services.reporting.audit.signing import public_key_hex

    permit(who, "signing_key")
    try:
        seed = load_keys(desk.home, create=False).signing
    except FileNotFoundError:
        raise ServiceUnavailable("this deployment has no key yet") from None
    return {"public_key": public_key_hex(seed)}


#: The columns of the case list: what a case handler scans for (no identifier among them).
LIST_FIELDS = ("case_id", "status", "model", "insurer", "policy_number", "condition", "specialty",
               "nation", "requested_on", "review_due", "sla_breached", "waiting_for_reviewer",
               "opened_at", "updated_at")
#: What a clinician's list shows of a case assigned to them: what the pack shows.
CLINICIAN_FIELDS = ("case_id", "status", "specialty", "review_due", "sla_breached")


def list_cases(desk: Desk, who: Principal, *, status: str | None = None, model: str | None = None,
               breached: bool | None = None) -> dict[str, Any]:
    """The cases, newest first, filtered; a clinician sees only the cases assigned to them."""
    permit(who, "list_cases")
    try:
        with desk.reading() as rt:
            states = rt.reporting.views.all_states()
    except NoStoresYet:
        states = []
    rows = []
    for s in states:
        if (status and s["status"] != status) or (model and s["model"] != model) \
                or (breached is not None and bool(s["sla_breached"]) != breached):
            continue
        if who.role == "clinician":
            if is_assigned(who, s):
                rows.append({k: s.get(k) for k in CLINICIAN_FIELDS})
            continue
        rows.append({k: s.get(k) for k in LIST_FIELDS})
    rows.sort(key=lambda r: str(r.get("opened_at") or ""), reverse=True)
    return {"cases": rows, "count": len(rows)}


# -- the clinician's pack ---------------------------------------------------------------------


def review_pack(desk: Desk, who: Principal, case_id: UUID) -> dict[str, Any]:
    """The pseudonymised review pack of a case: the one released to a network where there
    is one, else the same allow-list built from the case's opening (in-house and specialist
    reviews). Its free text is unsealed for the pack only, with the member's and the GP's
    identifiers taken out; nothing else of the case is shown, and no case id is in it."""
    from events.records import ReviewPackPrepared

    permit(who, "review_pack")

    def read(rt: Deployment) -> tuple[dict[str, Any], list[Any]]:
        state = rt.reporting.case_state(case_id)
        if who.role == "clinician":
            must_be_assigned(who, state, "review_pack")
        return state, case_trail(rt, case_id)

    state, events = _read(desk, read, case_id)
    prepared = [e for e in events if isinstance(e, ReviewPackPrepared)]
    if prepared:
        pack, pack_id = prepared[-1].pack.model_dump(mode="json"), str(prepared[-1].pack_id)
    else:
        pack, pack_id = _pack_from_opening(desk, case_id, events), None
    return {"case_id": str(case_id), "pack_id": pack_id, "status": state["status"],
            "model": state["model"], "review_due": state["review_due"],
            "pack": _pack_text(desk, pack, events)}


def _pack_from_opening(desk: Desk, case_id: UUID, events: list[Any]) -> dict[str, Any]:
    from events.intake import CaseOpened
    from events.records import ClinicalFacts, RecordReceived
    from services.bootstrap import load_keys
    from services.common.context import london_date
    from services.common.pseudonyms import case_pseudonym
    from services.records.domain.pseudonymise import pseudonymise_review_pack

    opened = next((e for e in events if isinstance(e, CaseOpened)), None)
    if opened is None:
        raise UnknownCase(case_id)
    facts = ClinicalFacts(
        age_band=opened.member.age_band, outward_code=opened.member.outward_code,
        nation=opened.member.nation, condition=opened.condition.name, icd10=opened.condition.icd10,
        specialty=opened.condition.specialty, nature=opened.condition.nature,
        diagnosed_on=opened.condition.diagnosed_on,
        # As records builds its facts: only the text intake de-identified, never the request's
        # own words (which may name the member).
        diagnosis_summary=opened.deidentified.diagnosis_summary if opened.deidentified else None,
        proposed_treatment=opened.deidentified.proposed_treatment if opened.deidentified else None)
    received: list[tuple[str, date]] = [(e.kind, london_date(e.occurred_at))
                                        for e in events if isinstance(e, RecordReceived)]
    pseudonym = case_pseudonym(load_keys(desk.home, create=False).pack, case_id)
    return pseudonymise_review_pack(pseudonym, facts, received).model_dump(mode="json")


#: The pack's only free text: unsealed for the reviewer, who needs to read it.
PACK_TEXT = ("diagnosis_summary", "proposed_treatment")


def _pack_text(desk: Desk, pack: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    """The pack with its free text readable: intake's de-identified text, and, as a second
    guard, any identifier of the member and the GP still in it taken out; every other sealed
    value (there should be none) stays "[sealed]"."""
    from events.intake import MemberIdentified
    from services.bootstrap import open_vault
    from services.runtime.keystore import ERASED, resolve

    vault = open_vault(desk.home, readonly=True)
    try:
        identifiers: list[str] = []
        for e in events:
            if isinstance(e, MemberIdentified):
                values = [*e.identity.model_dump().values(), *(e.gp.model_dump().values() if e.gp else ())]
                identifiers += [vault.unseal(v) if vault else v for v in values if isinstance(v, str)]
        text = {}
        for field in PACK_TEXT:
            value = pack.get(field)
            if isinstance(value, str):
                plain = vault.unseal(value) if vault is not None else "[sealed]"
                text[field] = plain if plain in (ERASED, "[sealed]") else scrub(plain, identifiers)
        return resolve({**pack, **text}, vault, reveal=False)  # type: ignore[return-value]
    finally:
        if vault is not None:
            vault.close()


REMOVED = "[removed]"
#: Titles and words too short or too common to be taken out of free text on their own.
_NOT_A_NAME = frozenset({"dr", "mr", "mrs", "ms", "miss", "prof", "the", "and", "surgery", "practice"})


def scrub(text: str, identifiers: list[str]) -> str:
    """Free text with each identifier (and each part of a name, and an NHS number however
    it is spaced) replaced by "[removed]"."""
    variants: set[str] = set()
    for ident in identifiers:
        ident = ident.strip()
        if not ident or ident in (REMOVED, "[erased]", "[unreadable]"):
            continue
        variants.add(ident)
        digits = re.sub(r"\s", "", ident)
        if digits.isdigit() and len(digits) == 10:
            variants.add(f"{digits[:3]} {digits[3:6]} {digits[6:]}")
            variants.add(digits)
        variants.update(part for part in re.split(r"[\s,.]+", ident)
                        if len(part) >= 3 and part.casefold() not in _NOT_A_NAME and not part.isdigit())
    for variant in sorted(variants, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(variant)}(?!\w)", REMOVED, text, flags=re.IGNORECASE)
    return text


def same_name(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_assigned(who: Principal, state: dict[str, Any]) -> bool:
    review = state.get("review") or {}
    names = {review.get("reviewer"), review.get("reviewer_id"), review.get("partner")}
    return same_name(who.name) in {same_name(n) for n in names if isinstance(n, str)}


def must_be_assigned(who: Principal, state: dict[str, Any], action: str) -> None:
    if not is_assigned(who, state):
        raise Forbidden(who, action, "this case is not assigned to you")


# -- small things -----------------------------------------------------------------------------


def _read(desk: Desk, read: Callable[[Deployment], Any], case_id: UUID) -> Any:
    try:
        with desk.reading() as rt:
            return read(rt)
    except NoStoresYet:
        raise UnknownCase(case_id) from None


def consents_json(state: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": state["case_id"], "status": state["status"], "consents": state["consents"],
            "consent_events": state["consent_events"],
            **{k: state[k] for k in ("settled", "pending") if k in state}}


def records_json(state: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": state["case_id"], "status": state["status"], "records": state["records"],
            "records_requested": state["records_requested"],
            "records_unobtainable": state["records_unobtainable"],
            "records_complete": state["records_complete"],
            **{k: state[k] for k in ("settled", "pending") if k in state}}


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise BadInput(field, f"must be one of {', '.join(allowed)}")
    return value


def require_text(value: str, field: str) -> None:
    from services.common.validation import is_blank

    if is_blank(value):
        raise BadInput(field, "must not be empty")


HEAD_DIGEST = re.compile(r"(intake|records|review|reporting):\d+:[0-9a-f]{16}"
                         r"(,(intake|records|review|reporting):\d+:[0-9a-f]{16})*")
