"""The review pack a partner would read: its free text, once unsealed, names nobody (issue 8,
point 3). Identifiers are planted in the request's diagnosis and proposed treatment; the
case goes to a third-party review with the member's disclosure consent; the pack's free
text is unsealed with the member's key, as the partner gateway will, and holds none of them."""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import UUID

from events.codec import decode
from events.intake import CaseOpened
from events.records import CaseFileOpened, ReviewPack, ReviewPackPrepared
from tests.fixtures import REQUEST, Desk, policy

MEMBER = {"name": "Siobhán O'Neil-Hughes", "date_of_birth": "1974-11-09", "nhs_number": "401 023 2137",
          "postcode": "BT7 1NN", "email": "siobhan.oneil@example.org", "phone": "07700 900982",
          "nation": "NIR"}
GP = {"name": "Dr K Okonkwo", "practice": "Lisburn Road Medical Centre", "email": "lisburn.gp@example.org"}
SUMMARY = ("Mrs Siobhan O'NEIL-HUGHES (NHS 4010232137, DOB 9th November 1974, 09/11/74) of bt71nn: "
           "full-thickness supraspinatus tear on MRI 2025-06-01, M75.1; o'neil-hughes reports night pain. "
           "Seen by Dr Okonkwo, LISBURN ROAD MEDICAL CENTRE")
TREATMENT = ("Open repair; ibuprofen 400 mg meanwhile. Contact Siobhan on +44 7700 900982 or "
             "siobhan.oneil@example.org; GP K. Okonkwo (lisburn.gp@example.org, 028 9032 9000) at Lisburn Road")
IDENTIFIERS = ["siobhan", "o'neil", "hughes", "4010232137", "401 023 2137", "1974-11-09", "9th November 1974",
               "09/11/74", "bt71nn", "bt7 1nn", "siobhan.oneil@example.org", "7700 900982", "7700900982",
               "okonkwo", "lisburn road", "lisburn.gp@example.org", "028 9032 9000"]
CLINICAL = ["full-thickness supraspinatus tear on MRI 2025-06-01, M75.1", "night pain", "Open repair",
            "ibuprofen 400 mg"]


def planted_request() -> dict[str, Any]:
    request = copy.deepcopy(REQUEST)
    request.update(member=MEMBER, gp=GP, proposed_treatment=TREATMENT,
                   diagnosis={"by": "Consultant orthopaedic surgeon", "summary": SUMMARY})
    return request


def prepared_pack(desk: Desk, case: UUID) -> ReviewPack:
    pack: ReviewPack = next(e for e in desk.rt.reporting.views.audit_trail(case)
                            if e.type_name == "review_pack_prepared").pack
    return pack


def unsealed(desk: Desk, value: str | None) -> str:
    assert value is not None and value.startswith("sealed:v1:"), "the free text is sealed in the pack"
    assert desk.rt.vault is not None
    return desk.rt.vault.unseal(value)


def test_the_pack_s_free_text_unsealed_names_neither_the_member_nor_the_gp(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open(planted_request())
    desk.to_review(case, "third_party")
    assert desk.state(case)["status"] == "in_review"

    pack = prepared_pack(desk, case)
    text = unsealed(desk, pack.diagnosis_summary) + "\n" + unsealed(desk, pack.proposed_treatment)
    assert not [i for i in IDENTIFIERS if i in text.lower()], text
    assert all(words in text for words in CLINICAL), text
    assert text.startswith("[name] (NHS [NHS number], DOB [date of birth], [date of birth]) of [postcode]:")
    assert "[GP]" in text and "[practice]" in text and "[phone]" in text and "[email]" in text


def test_the_pack_dates_each_record_from_the_diagnosis(desk: Desk) -> None:
    desk.load_policies(policy())
    case = desk.open(planted_request())
    desk.to_review(case, "third_party")
    pack = prepared_pack(desk, case)
    # Diagnosed 1 June 2025; the imaging arrived on 12 June 2025, the day the case opened.
    assert [(r.kind, r.days_after_diagnosis) for r in pack.records] == [("imaging", 11)]


def test_the_request_s_own_words_stay_with_intake(desk: Desk) -> None:
    """Intake keeps the member's free text as given (sealed) for the member's own report; only
    the de-identified text goes to records."""
    desk.load_policies(policy())
    case = desk.open(planted_request())
    opened = next(e for e in desk.rt.reporting.views.audit_trail(case) if isinstance(e, CaseOpened))
    assert opened.diagnosis is not None and opened.deidentified is not None
    assert unsealed(desk, opened.diagnosis.summary) == SUMMARY
    assert unsealed(desk, opened.deidentified.diagnosis_summary).startswith("[name] (NHS [NHS number]")
    facts = next(e for e in desk.rt.reporting.views.audit_trail(case) if e.type_name == "case_file_opened").facts
    assert unsealed(desk, facts.proposed_treatment) == unsealed(desk, opened.deidentified.proposed_treatment)


def test_a_pack_prepared_before_de_identification_reads_without_its_free_text() -> None:
    """A v1 pack carried the request's own words (sealed); read today it carries no free text,
    and its records are dated from the diagnosis. The file it was built from likewise."""
    envelope = {"event_id": "00000000-0000-4000-8000-000000000001", "occurred_at": "2025-06-13T08:00:00+00:00",
                "originator_id": "00000000-0000-4000-8000-000000000002", "originator_version": 9,
                "actor": "user:x", "causation_id": None, "correlation_id": None,
                "case_id": "00000000-0000-4000-8000-000000000002"}
    facts = {"age_band": "40-49", "outward_code": "SW1A", "nation": "ENG", "condition": "Rotator cuff tear",
             "icd10": "M75.1", "specialty": "orthopaedics", "nature": "acute", "diagnosed_on": "2025-06-01",
             "diagnosis_summary": "sealed:v1:x:y", "proposed_treatment": "sealed:v1:x:z"}
    pack = {**facts, "pseudonym": "SMO-ABC", "records": [{"kind": "imaging", "received_on": "2025-06-12"}]}
    v1_pack = {"type": "review_pack_prepared", "schema_version": 1, **envelope, "pack": pack,
               "pack_id": "00000000-0000-4000-8000-000000000003", "ruleset_version": "review-pack-allowlist-1",
               "consent_event_id": "00000000-0000-4000-8000-000000000004"}
    read = decode(json.dumps(v1_pack).encode())
    assert isinstance(read, ReviewPackPrepared)
    assert read.pack.diagnosis_summary is None and read.pack.proposed_treatment is None
    assert [(r.kind, r.days_after_diagnosis) for r in read.pack.records] == [("imaging", 11)]
    v1_file = {"type": "case_file_opened", "schema_version": 1, **envelope, "facts": facts}
    opened = decode(json.dumps(v1_file).encode())
    assert isinstance(opened, CaseFileOpened)
    assert opened.facts.diagnosis_summary is None and opened.facts.proposed_treatment is None
    assert opened.facts.condition == "Rotator cuff tear"
