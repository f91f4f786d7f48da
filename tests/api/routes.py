"""Every route of the API with the action of the role table it performs and a valid body,
so the role tests can go over every path (a test checks the list is complete)."""

from __future__ import annotations

from typing import Any

from tests.fixtures import POLICY, REQUEST, REVIEWERS

CASE = "{case}"
#: The partner the partner routes name (path_of puts it in place of `{name}`).
PARTNER = "acme"
PARTNER_PASSWORD = "a-partner-password-0123"

#: (action, method, path, body). `{case}` is replaced by a case id, `{name}` by PARTNER.
ROUTES: list[tuple[str, str, str, Any]] = [
    ("load_policies", "POST", "/policies", {"policies": [POLICY]}),
    ("load_reviewers", "POST", "/reviewers", REVIEWERS),
    ("open_case", "POST", "/cases", REQUEST),
    ("list_cases", "GET", "/cases", None),
    ("show_case", "GET", f"/cases/{CASE}", None),
    ("replay_case", "GET", f"/cases/{CASE}/replay", None),
    ("consent_history", "GET", f"/cases/{CASE}/consents", None),
    ("grant_consent", "POST", f"/cases/{CASE}/consents/grant", {"scope": "share_with_gp"}),
    ("withdraw_consent", "POST", f"/cases/{CASE}/consents/withdraw", {"scope": "share_with_gp"}),
    ("add_record", "POST", f"/cases/{CASE}/records", {"kind": "pathology", "source": "Lab"}),
    ("request_records", "POST", f"/cases/{CASE}/records/requests", {"kind": "gp_summary", "source": "GP"}),
    ("mark_unobtainable", "POST", f"/cases/{CASE}/records/unobtainable", {"source": "Clinic", "reason": "closed"}),
    ("complete_records", "POST", f"/cases/{CASE}/records/complete", None),
    ("review_pack", "GET", f"/cases/{CASE}/pack", None),
    ("submit_opinion", "POST", f"/cases/{CASE}/opinion",
     {"outcome": "confirmed", "summary": "Agree with the plan", "reviewer": "Dr Able"}),
    ("decline_review", "POST", f"/cases/{CASE}/review/decline", {"reason": "capacity"}),
    ("declare_conflict", "POST", f"/cases/{CASE}/review/conflict", {"nature": "treated the member before"}),
    ("attend_appointment", "POST", f"/cases/{CASE}/review/attend", None),
    ("deliver_report", "POST", f"/cases/{CASE}/report/deliver", None),
    ("cancel_case", "POST", f"/cases/{CASE}/cancel", {"reason": "member_request"}),
    ("close_case", "POST", f"/cases/{CASE}/close", None),
    ("erase_member", "POST", f"/cases/{CASE}/erase", {"reason": "the member asked"}),
    ("verify", "GET", "/verify", None),
    ("analytics", "GET", "/analytics", None),
    ("signing_key", "GET", "/signing-key", None),
    ("sla_due", "GET", "/sla/due?start=2025-06-12&working_days=10&nation=ENG", None),
    ("sla_sweep", "POST", "/sla/sweep", None),
    ("partner_list", "GET", "/partners", None),
    ("partner_add", "POST", "/partners",
     {"name": PARTNER, "specialties": ["orthopaedics"], "password": PARTNER_PASSWORD}),
    ("partner_remove", "DELETE", "/partners/{name}", None),
]
#: Open to anyone with a valid token (what it shows depends on the role).
AUTHENTICATED = [("rights", "GET", "/rights", None), ("page", "GET", "/", None)]


def path_of(path: str, case_id: str) -> str:
    return path.replace(CASE, case_id).replace("{name}", PARTNER)
