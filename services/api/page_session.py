"""The web page's session: who is signed in, the CSRF token of their session, and how a page
answers when something goes wrong (a redirect to sign-in, a clean 403/404/503 page).

The session is the bearer token from `cases token`, pasted once into the sign-in form and kept
in the cookie `cases_token` (HttpOnly, so no script reads it; SameSite=Strict, so no other
site's page sends it). CSRF: every form carries a per-session token, an HMAC of the session's
bearer token under the deployment's token key (nothing stored server-side), checked on every
POST; on top of that a POST whose Origin header names another site is refused. Both the
SameSite cookie and the form token must hold, so either alone failing is still safe.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from services.api import page_views
from services.api.auth import COOKIE, Principal, authenticate, bearer_of
from services.api.rights import Forbidden, may
from services.common.errors import BadInput, Refused, ServiceUnavailable, UnknownCase

log = logging.getLogger("cases.page")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["when"] = page_views.when
templates.env.filters["day"] = page_views.day
CSRF_FIELD = "csrf"


def viewer(request: Request) -> Principal | None:
    """The signed-in person, or None (no cookie, or a token that is expired or tampered)."""
    try:
        return authenticate(request)
    except HTTPException:
        return None


def csrf_token(request: Request) -> str:
    token = bearer_of(request) or ""
    key: bytes = request.app.state.token_key
    return hmac.new(key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """No Origin header (an old browser, a script) passes; one naming another host fails."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def csrf_ok(request: Request, form: Mapping[str, Any]) -> bool:
    sent = form.get(CSRF_FIELD)
    return (isinstance(sent, str) and hmac.compare_digest(sent, csrf_token(request))
            and same_origin(request))


def to_sign_in(request: Request, ended: bool = False) -> Response:
    """The sign-in form, answered in place with 401 (SPEC section 12: without a valid token
    every path but /health answers 401), remembering the page asked for so that signing in
    goes on there (a path on this site only)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = render(request, "sign_in.html", None, 401,
                      next=safe_next(target if request.method == "GET" else "/"),
                      ended=ended, error=None)
    if ended:
        response.delete_cookie(COOKIE, path="/")
    return response


def safe_next(target: str | None) -> str:
    """Only a path of this site: never `//host`, a scheme, or a backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, template: str, who: Principal | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """A page with what every page needs: the person, their rights, the CSRF token, and the
    status message of a redirect (`?done=KEY`, a fixed text, never echoed input)."""
    done = request.query_params.get("done", "")
    return templates.TemplateResponse(request, template, {
        "who": who, "can": (lambda action: who is not None and may(who, action)),
        "csrf": csrf_token(request) if who is not None else "",
        "notice": DONE.get(done), **context}, status_code=status_code)


def problem_page(request: Request, who: Principal | None, status_code: int, title: str,
                 message: str) -> HTMLResponse:
    return render(request, "problem.html", who, status_code, title=title, message=message)


def guarded(request: Request, build: Callable[[Principal], Response]) -> Response:
    """Run a page for the signed-in person; anyone else goes to sign-in. A role without the
    right gets a 403 page, an unknown case 404, a store that is down 503: each a plain page
    saying so, with no trace and no data."""
    who = viewer(request)
    if who is None:
        return to_sign_in(request, ended=COOKIE in request.cookies)
    try:
        return build(who)
    except Forbidden as refusal:
        return problem_page(request, who, 403, "Not open to your role", str(refusal))
    except UnknownCase:
        return problem_page(request, who, 404, "No such case", "There is no case at this address.")
    except ServiceUnavailable:
        return problem_page(request, who, 503, "The service is unavailable",
                            "A store or service this page needs cannot be reached. Nothing was recorded; "
                            "try again shortly.")


#: What a redirect after a successful form says (`?done=KEY`).
DONE = {
    "opened": "The case was opened.",
    "declined": "The request was recorded and declined: see the reasons below.",
    "consent_granted": "Consent granted.",
    "consent_withdrawn": "Consent withdrawn.",
    "record_added": "Record added.",
    "records_completed": "Records marked complete.",
    "opinion": "Opinion recorded.",
    "report": "Report delivered.",
    "cancelled": "Case cancelled.",
    "closed": "Case closed.",
    "signed_out": "You are signed out.",
}


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def parse_id(case_id: str) -> UUID:
    try:
        return UUID(case_id)
    except ValueError:
        raise UnknownCase("?") from None


def problem_text(failure: BadInput) -> str:
    """The field and the problem as the API words it (a personal value is never quoted)."""
    from services.api.app import safe_problem  # app.py imports the pages: import at use

    field = "request" if failure.field == "file" else failure.field  # `cases open FILE`'s name for it
    return f"{field}: {safe_problem(failure.field, failure.problem)}"


def refusal_text(refusal: Refused) -> str:
    return f"Refused ({refusal.code}): {refusal.message}"


def stale_form(request: Request, who: Principal) -> Response:
    return problem_page(request, who, 403, "The form was out of date",
                        "This form was not sent from your current session, so nothing was done. "
                        "Go back, reload the page and try again.")
