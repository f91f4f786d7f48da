"""Who may do what: the role table, as data, for the routes, the page and the README.

`case_handler` runs cases; `clinician` reads the pseudonymised packs of the cases assigned to
them and gives (or declines) opinions on those only; `auditor` reads everything and changes
nothing; `admin` may do everything, including the policy register, the reviewer directory,
erasure and partners. Reading a member's identifiers (`reveal`) is recorded, naming the reader.
"""

from __future__ import annotations

from services.api.auth import ROLES, Principal

RUN = ("case_handler", "admin")
READ = ("case_handler", "auditor", "admin")
ANYONE = ROLES

#: action -> the roles that may do it. Actions marked "assigned only" in ASSIGNED_ONLY are
#: further limited, for a clinician, to the cases whose reviewer they are.
RIGHTS: dict[str, tuple[str, ...]] = {
    # the registers
    "load_policies": ("admin",),
    "load_reviewers": ("admin",),
    # running a case
    "open_case": RUN,
    "grant_consent": RUN,
    "withdraw_consent": RUN,
    "request_records": RUN,
    "add_record": RUN,
    "mark_unobtainable": RUN,
    "complete_records": RUN,
    "submit_opinion": ("case_handler", "clinician", "admin"),
    "decline_review": ("case_handler", "clinician", "admin"),
    "declare_conflict": ("case_handler", "clinician", "admin"),
    "attend_appointment": RUN,
    "deliver_report": RUN,
    "cancel_case": RUN,
    "close_case": RUN,
    "sla_sweep": RUN,
    # personal data
    "erase_member": ("admin",),
    "reveal": READ,
    # reading
    "list_cases": ANYONE,
    "review_pack": ANYONE,
    "show_case": READ,
    "replay_case": READ,
    "consent_history": READ,
    "verify": READ,
    "analytics": READ,
    "signing_key": READ,
    "sla_due": ANYONE,
    # reviewer partners (SPEC section 9)
    "partner_add": ("admin",),
    "partner_remove": ("admin",),
    "partner_list": READ,
}

#: For a clinician, these act only on the cases assigned to them (reviewer id or name, or the
#: network a pack was referred to, equal to the token's name); any other case is 403.
ASSIGNED_ONLY = frozenset({"review_pack", "submit_opinion", "decline_review", "declare_conflict",
                           "list_cases"})

#: Actions that change something: an auditor never reaches one (their role is in none).
WRITES = frozenset({
    "load_policies", "load_reviewers", "open_case", "grant_consent", "withdraw_consent",
    "request_records", "add_record", "mark_unobtainable", "complete_records", "submit_opinion",
    "decline_review", "declare_conflict", "attend_appointment", "deliver_report", "cancel_case",
    "close_case", "sla_sweep", "erase_member", "partner_add", "partner_remove",
})

assert not any("auditor" in RIGHTS[action] for action in WRITES), "auditors change nothing"


class Forbidden(Exception):
    """The caller's role may not do this (HTTP 403); nothing was recorded."""

    def __init__(self, principal: Principal, action: str, why: str | None = None):
        self.role = principal.role
        self.action = action
        super().__init__(why or f"the role {principal.role} may not {action.replace('_', ' ')}")


def may(principal: Principal, action: str) -> bool:
    return principal.role in RIGHTS[action]


def permit(principal: Principal, action: str) -> None:
    if not may(principal, action):
        raise Forbidden(principal, action)
