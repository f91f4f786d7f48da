"""The case handler's web page (SPEC section 12), server-rendered from the same app.

Plain HTML forms, POST-redirect-GET, no JavaScript needed. Every form calls the same
function of services/api/actions.py as the JSON route, so the rights, the validation and the
refusals are the API's: a refusal comes back as an alert with its reason, bad input next to
its field, a role without the right as a 403 page. The page shows the member reference,
never the member's identifiers (nothing here asks for a reveal).

Pages: sign-in and sign-out (page_session.py holds the session and the CSRF check), the case
list at `/`, opening a case at `/open`, a case at `/case/{id}` with its forms under it; the
auditor's view and the clinician's packs are in pages_audit.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from services.api import actions, page_views, pages_audit
from services.api.auth import COOKIE, Principal, principal_of
from services.api.page_session import (
    csrf_ok,
    guarded,
    parse_id,
    problem_page,
    problem_text,
    refusal_text,
    render,
    safe_next,
    same_origin,
    stale_form,
    text,
    viewer,
)
from services.api.rights import may
from services.common.context import london_date
from services.common.errors import BadInput, Refused, UnknownCase

router = APIRouter(include_in_schema=False)
router.include_router(pages_audit.router)


# -- signing in and out -----------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, next: str = "/", ended: str = "") -> Response:
    who = viewer(request)  # without a valid token the form itself answers 401, as every path
    return render(request, "sign_in.html", who, 200 if who else 401, next=safe_next(next),
                  ended=bool(ended), error=None)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    token = text(form, "token").strip()
    target = safe_next(text(form, "next"))
    if not same_origin(request):
        return problem_page(request, None, 403, "Refused", "The form was sent from another site.")
    try:
        principal_of(token, request.app.state.token_key)
    except Exception:  # noqa: BLE001 - any token that does not check out is the same answer
        return render(request, "sign_in.html", None, 401, next=target, ended=False,
                      error="This token is not valid here: it may have expired, or be for another "
                            "deployment. Make a new one with cases token.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    form = await request.form()
    if viewer(request) is not None and not csrf_ok(request, form):
        return problem_page(request, None, 403, "Refused", "The form was out of date; nothing was done.")
    response = RedirectResponse("/sign-in?done=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the case list ----------------------------------------------------------------------------


@router.get("/")
def case_list(request: Request, status: str = "", model: str = "", breached: str = "") -> Response:
    def build(who: Principal) -> Response:
        errors = {}
        if status and status not in page_views.STATUSES:
            errors["status"] = "Choose one of the statuses listed."
        if model and model not in page_views.MODELS:
            errors["model"] = "Choose one of the delivery models listed."
        if breached not in ("", "yes", "no"):
            errors["breached"] = "Choose any, yes or no."
        rows: list[dict[str, Any]] = []
        if not errors:
            listed = actions.list_cases(request.app.state.desk, who, status=status or None,
                                        model=model or None,
                                        breached=None if not breached else breached == "yes")
            rows = listed["cases"]
        refs = member_refs(request, who) if rows else {}
        today = today_of(request)
        for row in rows:
            row["member_ref"] = refs.get(str(row["case_id"]))
            row["clock"] = page_views.sla_clock(row.get("review_due"), row.get("nation"), today,
                                                bool(row.get("sla_breached")),
                                                row.get("status") in page_views.FINISHED
                                                or row.get("status") == "report_issued")
        return render(request, "cases.html", who, 400 if errors else 200, cases=rows, errors=errors,
                      filters={"status": status, "model": model, "breached": breached},
                      statuses=page_views.STATUSES, models=page_views.MODELS)

    return guarded(request, build)


def member_refs(request: Request, who: Principal) -> dict[str, str]:
    """case id -> member reference, for the roles that may see a case (never a clinician:
    their list is what their packs show)."""
    if not may(who, "show_case"):
        return {}
    desk: actions.Desk = request.app.state.desk
    try:
        with desk.reading() as rt:
            return {str(s["case_id"]): str(s.get("member_ref") or "") for s in rt.reporting.views.all_states()}
    except actions.NoStoresYet:
        return {}


def today_of(request: Request) -> date:
    return london_date(request.app.state.desk.clock.now())


# -- opening a case ---------------------------------------------------------------------------


@router.get("/open")
def open_form(request: Request) -> Response:
    def build(who: Principal) -> Response:
        if not may(who, "open_case"):
            return problem_page(request, who, 403, "Not open to your role",
                                f"The role {who.role} may not open cases.")
        return render(request, "open.html", who, errors={}, request_json="")

    return guarded(request, build)


@router.post("/open")
async def open_case(request: Request) -> Response:
    form = await request.form()
    upload = form.get("request_file")
    pasted = text(form, "request_json")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read()
        try:
            pasted = raw.decode("utf-8")
        except UnicodeDecodeError:
            pasted = "\ufffd"  # parse_case_request names it as malformed JSON

    def build(who: Principal) -> Response:
        if not csrf_ok(request, form):
            return stale_form(request, who)
        try:
            if not pasted.strip():
                raise BadInput("request_json", "paste the request JSON or choose a file")
            opened = actions.open_case(request.app.state.desk, who, pasted)
        except UnknownCase:
            raise
        except BadInput as failure:
            return render(request, "open.html", who, 400, request_json=pasted,
                          errors={"request_json": problem_text(failure)})
        except Refused as refusal:
            return render(request, "open.html", who, 409, request_json=pasted, errors={},
                          alert=refusal_text(refusal))
        done = "opened" if opened.get("status") == "accepted" else "declined"
        return RedirectResponse(f"/case/{opened['case_id']}?done={done}", status_code=303)

    return await run_in_threadpool(guarded, request, build)


# -- a case -----------------------------------------------------------------------------------


@router.get("/case/{case_id}")
def case_page(request: Request, case_id: str) -> Response:
    return guarded(request, lambda who: render_case(request, who, parse_id(case_id)))


def render_case(request: Request, who: Principal, case_id: UUID, status_code: int = 200,
                errors: dict[str, str] | None = None, alert: str | None = None,
                values: dict[str, str] | None = None) -> Response:
    desk: actions.Desk = request.app.state.desk
    state = actions.show_case(desk, who, case_id)
    replayed = actions.replay_case(desk, who, case_id)
    history = actions.consent_history(desk, who, case_id)["history"]
    status = state.get("status")
    clock = page_views.sla_clock(state.get("review_due"), state.get("nation"), today_of(request),
                                 bool(state.get("sla_breached")),
                                 status in page_views.FINISHED or status == "report_issued")
    return render(request, "case.html", who, status_code, case=state, case_id=str(case_id),
                  review=page_views.as_dict(state.get("review")), clock=clock,
                  opinion=page_views.as_dict(state.get("opinion")),
                  report=page_views.as_dict(state.get("report")),
                  timeline=page_views.timeline(replayed["events"]), history=history,
                  findings=replayed.get("findings") or [], offers=page_views.offers(state),
                  scopes=page_views.SCOPE_LABELS, kinds=actions.RECORD_KINDS,
                  outcomes=actions.OUTCOMES, cancelled_by=actions.CANCELLED_BY,
                  errors=errors or {}, alert=alert, values=values or {})


def case_form(path: str, done: str,
              call: Callable[[actions.Desk, Principal, UUID, FormData], Any]) -> None:
    """Register POST /case/{id}/`path`: check the session's CSRF token, run the action, and
    redirect to the case with `done`; bad input re-renders the case with the problem next to
    its field (400), a refusal with an alert naming the reason (409)."""

    async def handle(request: Request, case_id: str) -> Response:
        form = await request.form()

        def build(who: Principal) -> Response:
            cid = parse_id(case_id)
            if not csrf_ok(request, form):
                return stale_form(request, who)
            values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
            try:
                call(request.app.state.desk, who, cid, form)
            except UnknownCase:
                raise
            except BadInput as failure:
                return render_case(request, who, cid, 400, errors={failure.field: problem_text(failure)},
                                   values=values)
            except Refused as refusal:
                return render_case(request, who, cid, 409, alert=refusal_text(refusal), values=values)
            return RedirectResponse(f"/case/{cid}?done={done}#main", status_code=303)

        return await run_in_threadpool(guarded, request, build)

    router.add_api_route(f"/case/{{case_id}}/{path}", handle, methods=["POST"], name=f"page_{path}")


case_form("consent/grant", "consent_granted",
          lambda d, w, c, f: actions.grant_consent(d, w, c, text(f, "scope")))
case_form("consent/withdraw", "consent_withdrawn",
          lambda d, w, c, f: actions.withdraw_consent(d, w, c, text(f, "scope")))
case_form("records/add", "record_added",
          lambda d, w, c, f: actions.add_record(d, w, c, text(f, "kind"), text(f, "source")))
case_form("records/complete", "records_completed",
          lambda d, w, c, f: actions.complete_records(d, w, c))
case_form("opinion", "opinion",
          lambda d, w, c, f: actions.submit_opinion(d, w, c, text(f, "outcome"), text(f, "summary"),
                                                    text(f, "reviewer") or None))
case_form("report/deliver", "report", lambda d, w, c, f: actions.deliver_report(d, w, c))
case_form("cancel", "cancelled",
          lambda d, w, c, f: actions.cancel_case(d, w, c, text(f, "reason") or "member_request",
                                                 text(f, "by") or "member"))
case_form("close", "closed", lambda d, w, c, f: actions.close_case(d, w, c))
