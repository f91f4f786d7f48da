"""`cases serve`: the HTTP API of SPEC section 12 over the same applications as the CLI.

Every route but /health needs a bearer token (services/api/auth.py); the role table is
services/api/rights.py. Each route validates its input as the CLI does, makes the one call
in services/api/actions.py, and answers with the CLI's `--json` shape. Errors:

- 400 bad input (`{"error": "bad_input", "field", "problem"}`), 422 when FastAPI's own
  validation of a path or query parameter fails (the same shape), 404 an unknown case;
- 401 no valid token, 403 a role without the right (nothing recorded);
- 409 a business refusal (`{"error": "refused", "reason": CODE, "message"}`);
- 413 a request body over 1 MiB, refused before it is parsed;
- 503 a store, database or broker that cannot be used (nothing recorded).

No error body and no log line carries a member's data or a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api import actions, models, pages
from services.api.actions import BODY_MAX_BYTES, Desk
from services.api.auth import Principal, authenticate, require, token_key
from services.api.rights import RIGHTS, Forbidden
from services.common import validation
from services.common.context import Clock
from services.common.errors import BadInput, Refused, ServiceUnavailable, UnknownCase
from services.common.validation import bad_input_from, load_json_object
from services.failures import infrastructure_failure

log = logging.getLogger("cases.api")
M = TypeVar("M", bound=BaseModel)
STATIC = Path(__file__).parent / "static"


# -- errors -----------------------------------------------------------------------------------


def error(status: int, **body: Any) -> JSONResponse:
    return JSONResponse({k: v for k, v in body.items() if v is not None}, status_code=status)


#: Fields that hold a member's (or their GP's) data: a problem about them never quotes a value.
PERSONAL = re.compile(r"^(member|gp|identity)(\.|$)")


def safe_problem(field: str, problem: str) -> str:
    """The problem, without the offending value where the value could be personal data."""
    problem = re.sub(r"^'[^']*'", "the value", problem)
    if PERSONAL.match(field):
        problem = re.sub(r"'[^']*'", "the value", problem)
        problem = re.sub(r"\d{4}-\d{2}-\d{2}", "the date", problem)
        problem = re.sub(r"\d{5,}", "the number", problem)
    return problem


def bad_input_response(failure: BadInput) -> JSONResponse:
    field = "body" if failure.field == "file" else failure.field
    if isinstance(failure, UnknownCase):
        return error(404, error="not_found", field=field, problem=failure.problem)
    return error(400, error="bad_input", field=field, problem=safe_problem(field, failure.problem))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadInput)
    async def _bad_input(request: Request, failure: BadInput) -> JSONResponse:
        return bad_input_response(failure)

    @app.exception_handler(Refused)
    async def _refused(request: Request, failure: Refused) -> JSONResponse:
        return error(409, error="refused", reason=failure.code, message=failure.message)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, failure: Forbidden) -> JSONResponse:
        return error(403, error="forbidden", role=failure.role, message=str(failure))

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, failure: ServiceUnavailable) -> JSONResponse:
        return error(503, error="unavailable", message=str(failure))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, failure: StarletteHTTPException) -> JSONResponse:
        detail = failure.detail
        body = detail if isinstance(detail, dict) else {
            "error": {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
                failure.status_code, "http_error"), "message": str(detail)}
        return JSONResponse(body, status_code=failure.status_code, headers=failure.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, failure: RequestValidationError) -> JSONResponse:
        first = failure.errors()[0] if failure.errors() else {"loc": (), "msg": "is invalid"}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("path", "query", "body", "header")]
        field = ".".join(loc) or "request"
        problem = "is required" if first.get("type") == "missing" else str(first.get("msg", "is invalid"))
        return error(422, error="bad_input", field=field, problem=safe_problem(field, problem))


class Guard:
    """The outermost layer: a body over 1 MiB is refused (413) before anything reads it, and
    any failure the routes did not answer becomes a clean 503 (infrastructure) or 500, with
    one log line naming the route and the kind of failure: never the data, never a trace."""

    def __init__(self, app: ASGIApp, max_bytes: int = BODY_MAX_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await too_large(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await too_large(send)
        except Exception as failure:  # noqa: BLE001 - every failure gets a clean answer
            unavailable = infrastructure_failure(failure)
            log.error("%s %s failed: %s", scope.get("method"), route_of(scope),
                      "unavailable" if unavailable else type(failure).__name__)
            if started:
                return
            response = (error(503, error="unavailable", message=str(unavailable)) if unavailable
                        else error(500, error="internal", message="an unexpected failure; nothing more is said here"))
            await response(scope, receive, send)


class BodyTooLarge(Exception):
    pass


async def too_large(send: Send) -> None:
    body = b'{"error":"too_large","message":"request bodies are limited to 1 MiB"}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "(unrouted)"


# -- reading bodies as the CLI reads its files ------------------------------------------------


async def body_text(request: Request) -> str:
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("body", "is not UTF-8 text") from None


def body_of(model: type[M], *, optional: bool = False) -> Callable[[Request], Awaitable[M]]:
    """A dependency: the JSON body validated into `model` (400 naming the field)."""

    async def parse(request: Request) -> M:
        text = await body_text(request)
        if not text.strip():
            if optional:
                return model()
            raise BadInput("body", "a JSON object is required")
        data = load_json_object(text)
        try:
            return model.model_validate(data)
        except ValidationError as failure:
            raise bad_input_from(failure) from None

    return parse


#: Models documented as request bodies (their schemas join the OpenAPI components).
BODY_MODELS: list[type[BaseModel]] = []


def documented(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` naming `model` as the JSON request body."""
    if model not in BODY_MODELS:
        BODY_MODELS.append(model)
    return {"requestBody": {"required": required, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def parse_moment(text: str) -> datetime:
    return validation.parse_moment(text, "as_of")


def parse_day(text: str, field: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(field, "is not an ISO date (YYYY-MM-DD)") from None


# -- the app ----------------------------------------------------------------------------------

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": models.ErrorBody, "description": text} for code, text in (
        (400, "Bad input: the field and the problem"), (401, "No valid bearer token"),
        (403, "The role may not do this; nothing recorded"), (404, "No such case"),
        (409, "Refused by a business rule: the reason code"), (413, "Body over 1 MiB"),
        (422, "A path or query parameter is invalid: the field and the problem"),
        (503, "A store, database or broker is unavailable; nothing recorded"))
}
CaseId = Annotated[UUID, "the case id"]


class CliShapedRoute(APIRoute):
    """A route that answers with exactly the keys the action returned (the CLI's `--json`):
    a field of the response model the action did not set is left out, not sent as null."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any):
        kwargs["response_model_exclude_unset"] = True
        super().__init__(path, endpoint, **kwargs)


def may(action: str) -> Any:
    """The dependency that lets in the roles the role table allows for `action`."""
    return Depends(require(*RIGHTS[action]))


def create_app(home: Path, clock: Clock | None = None) -> FastAPI:
    from services.runtime.kafka.config import bus_from_env

    try:
        bus = bus_from_env()
    except ValueError as failure:
        raise BadInput("CASES_BUS", str(failure)) from None
    app = FastAPI(title="Second medical opinion cases", version="1",
                  description="SPEC section 12: every command of the command line over HTTP. "
                              "Bearer tokens from `cases token`; roles in GET /rights.",
                  responses=ERRORS)
    app.router.route_class = CliShapedRoute
    app.state.desk = Desk(home, clock, bus)
    app.state.token_key = token_key(home)
    install_error_handlers(app)
    app.add_middleware(Guard)
    add_routes(app)
    app.include_router(pages.router)
    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    return app


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the schemas of the bodies read as the CLI reads its files."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    _, defs = models_json_schema([(m, "validation") for m in BODY_MODELS],
                                 ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                          "bearerFormat": "JWT"}}
    schema["security"] = [{"bearer": []}]
    for path, item in schema["paths"].items():
        if path == "/health" or path == "/":
            for operation in item.values():
                operation["security"] = []
    app.openapi_schema = schema
    return schema


def add_routes(app: FastAPI) -> None:
    from services.intake.register_file import RegisterIn
    from services.intake.request_file import CaseRequest
    from services.review.reviewers_file import DirectoryIn

    def desk() -> Desk:
        return app.state.desk  # type: ignore[no-any-return]

    # -- health (no token) ----------------------------------------------------------------

    @app.get("/health", response_model=models.Health, tags=["health"],
             responses={503: {"model": models.Health, "description": "A store or the broker is down"}})
    def health() -> JSONResponse:
        """Whether the stores (and, with CASES_BUS, the broker) can be reached. No data."""
        result = check_health(desk())
        return JSONResponse(result, status_code=200 if result["ok"] else 503)

    @app.get("/rights", response_model=models.Rights, tags=["access"])
    def rights(who: Annotated[Principal, Depends(authenticate)]) -> dict[str, Any]:
        """Who is calling, and the role table: action -> the roles that may do it."""
        return {"name": who.name, "role": who.role, "rights": {k: list(v) for k, v in RIGHTS.items()}}

    # -- the registers ----------------------------------------------------------------------

    @app.post("/policies", response_model=models.Loaded, tags=["registers"],
              openapi_extra=documented(RegisterIn))
    def load_policies(who: Annotated[Principal, may("load_policies")],
                            text: Annotated[str, Depends(body_text)]) -> Any:
        """`cases policies load`: the policy register of SPEC section 3."""
        return actions.load_policies(desk(), who, text)

    @app.post("/reviewers", response_model=models.ReviewersLoaded, tags=["registers"],
              openapi_extra=documented(DirectoryIn))
    def load_reviewers(who: Annotated[Principal, may("load_reviewers")],
                             text: Annotated[str, Depends(body_text)]) -> Any:
        """`cases reviewers load`: add or update reviewers in the directory."""
        return actions.load_reviewers(desk(), who, text)

    # -- cases ------------------------------------------------------------------------------

    @app.post("/cases", response_model=models.Opened, status_code=201, tags=["cases"],
              openapi_extra=documented(CaseRequest))
    def open_case(who: Annotated[Principal, may("open_case")], text: Annotated[str, Depends(body_text)]) -> Any:
        """`cases open`: the case request of SPEC section 4; a declined request is a case too."""
        return actions.open_case(desk(), who, text)

    @app.get("/cases", response_model=models.CaseList, tags=["cases"])
    def list_cases(who: Annotated[Principal, may("list_cases")],
                   status: str | None = Query(None, max_length=40),
                   model: str | None = Query(None, max_length=40),
                   breached: bool | None = None) -> Any:
        """The cases, newest first; a clinician sees only the cases assigned to them."""
        return actions.list_cases(desk(), who, status=status, model=model, breached=breached)

    @app.get("/cases/{case_id}", response_model=models.CaseState, tags=["cases"])
    def show_case(case_id: CaseId, who: Annotated[Principal, may("show_case")], reveal: bool = False) -> Any:
        """`cases show`. `reveal=true` (case handler, auditor, admin) shows sealed values in
        plaintext, after recording the read on the case, naming the reader."""
        return actions.show_case(desk(), who, case_id, reveal=reveal)

    @app.get("/cases/{case_id}/replay", response_model=models.Replay, tags=["audit"])
    def replay_case(case_id: CaseId, who: Annotated[Principal, may("replay_case")],
                    as_of: str | None = Query(None, max_length=40, description="ISO time; London time if no zone"),
                    steps: bool = False, reveal: bool = False) -> Any:
        """`cases replay`: every event of the case across the services, the state, the findings."""
        moment = parse_moment(as_of) if as_of else None
        return actions.replay_case(desk(), who, case_id, as_of=moment, steps=steps, reveal=reveal)

    @app.get("/cases/{case_id}/consents", response_model=models.ConsentHistory, tags=["consent"])
    def consent_history(case_id: CaseId, who: Annotated[Principal, may("consent_history")]) -> Any:
        """`cases consent history`: every grant and withdrawal, with time, actor and channel."""
        return actions.consent_history(desk(), who, case_id)

    @app.post("/cases/{case_id}/consents/grant", response_model=models.Consents, tags=["consent"],
              openapi_extra=documented(models.ConsentChange))
    def grant_consent(case_id: CaseId, who: Annotated[Principal, may("grant_consent")],
                            body: Annotated[models.ConsentChange, Depends(body_of(models.ConsentChange))]) -> Any:
        """`cases consent grant`: the case's consents after the change."""
        return actions.grant_consent(desk(), who, case_id, body.scope,
                              body.channel or "case_handler")

    @app.post("/cases/{case_id}/consents/withdraw", response_model=models.Consents, tags=["consent"],
              openapi_extra=documented(models.ConsentChange))
    def withdraw_consent(case_id: CaseId, who: Annotated[Principal, may("withdraw_consent")],
                               body: Annotated[models.ConsentChange, Depends(body_of(models.ConsentChange))]) -> Any:
        """`cases consent withdraw`: what the scope allowed stops."""
        return actions.withdraw_consent(desk(), who, case_id, body.scope,
                              body.channel or "case_handler")

    @app.post("/cases/{case_id}/records", response_model=models.Records, tags=["records"],
              openapi_extra=documented(models.RecordIn))
    def add_record(case_id: CaseId, who: Annotated[Principal, may("add_record")],
                         body: Annotated[models.RecordIn, Depends(body_of(models.RecordIn))]) -> Any:
        """`cases records add`: a record received (needs records_access)."""
        return actions.add_record(desk(), who, case_id, body.kind, body.source)

    @app.post("/cases/{case_id}/records/requests", response_model=models.Records, tags=["records"],
              openapi_extra=documented(models.RecordsRequest))
    def request_records(case_id: CaseId, who: Annotated[Principal, may("request_records")],
                              body: Annotated[models.RecordsRequest, Depends(body_of(models.RecordsRequest))]) -> Any:
        """`cases records request`: ask a source for records (needs records_access)."""
        return actions.request_records(desk(), who, case_id, body.kind, body.source)

    @app.post("/cases/{case_id}/records/unobtainable", response_model=models.Records, tags=["records"],
              openapi_extra=documented(models.Unobtainable))
    def mark_unobtainable(case_id: CaseId, who: Annotated[Principal, may("mark_unobtainable")],
                                body: Annotated[models.Unobtainable, Depends(body_of(models.Unobtainable))]) -> Any:
        """`cases records unobtainable`: a source cannot supply records."""
        return actions.mark_unobtainable(desk(), who, case_id, body.source, body.reason)

    @app.post("/cases/{case_id}/records/complete", response_model=models.Records, tags=["records"])
    def complete_records(case_id: CaseId, who: Annotated[Principal, may("complete_records")]) -> Any:
        """`cases records complete`: review starts once the model's consents are in force."""
        return actions.complete_records(desk(), who, case_id)

    @app.get("/cases/{case_id}/pack", response_model=models.Pack, tags=["review"])
    def review_pack(case_id: CaseId, who: Annotated[Principal, may("review_pack")]) -> Any:
        """The pseudonymised review pack; a clinician gets only the packs of their cases."""
        return actions.review_pack(desk(), who, case_id)

    @app.post("/cases/{case_id}/opinion", response_model=models.CaseState, tags=["review"],
              openapi_extra=documented(models.OpinionIn))
    def submit_opinion(case_id: CaseId, who: Annotated[Principal, may("submit_opinion")],
                             body: Annotated[models.OpinionIn, Depends(body_of(models.OpinionIn))]) -> Any:
        """`cases opinion submit`: the case after the change."""
        return actions.submit_opinion(desk(), who, case_id, body.outcome, body.summary,
                              body.reviewer)

    @app.post("/cases/{case_id}/review/decline", response_model=models.CaseState, tags=["review"],
              openapi_extra=documented(models.DeclineIn))
    def decline_review(case_id: CaseId, who: Annotated[Principal, may("decline_review")],
                             body: Annotated[models.DeclineIn, Depends(body_of(models.DeclineIn))]) -> Any:
        """`cases review decline`: the assigned reviewer declines; the case is reassigned."""
        return actions.decline_review(desk(), who, case_id, body.reason)

    @app.post("/cases/{case_id}/review/conflict", response_model=models.CaseState, tags=["review"],
              openapi_extra=documented(models.ConflictIn))
    def declare_conflict(case_id: CaseId, who: Annotated[Principal, may("declare_conflict")],
                               body: Annotated[models.ConflictIn, Depends(body_of(models.ConflictIn))]) -> Any:
        """`cases review conflict`: a conflict of interest; the case is reassigned."""
        return actions.declare_conflict(desk(), who, case_id, body.nature)

    @app.post("/cases/{case_id}/review/attend", response_model=models.CaseState, tags=["review"])
    def attend_appointment(case_id: CaseId, who: Annotated[Principal, may("attend_appointment")]) -> Any:
        """`cases review attend`: the member attended the further consultation."""
        return actions.attend_appointment(desk(), who, case_id)

    @app.post("/cases/{case_id}/report/deliver", response_model=models.CaseState, tags=["report"])
    def deliver_report(case_id: CaseId, who: Annotated[Principal, may("deliver_report")]) -> Any:
        """`cases report deliver`: to the member, and to the GP where share_with_gp is in force."""
        return actions.deliver_report(desk(), who, case_id)

    @app.post("/cases/{case_id}/cancel", response_model=models.CaseState, tags=["cases"],
              openapi_extra=documented(models.CancelIn, required=False))
    def cancel_case(case_id: CaseId, who: Annotated[Principal, may("cancel_case")],
                          body: Annotated[models.CancelIn, Depends(body_of(models.CancelIn, optional=True))]) -> Any:
        """`cases cancel`: collection and review stop."""
        return actions.cancel_case(desk(), who, case_id, body.reason or "member_request", body.by)

    @app.post("/cases/{case_id}/close", response_model=models.CaseState, tags=["cases"],
              openapi_extra=documented(models.CloseIn, required=False))
    def close_case(case_id: CaseId, who: Annotated[Principal, may("close_case")],
                         body: Annotated[models.CloseIn, Depends(body_of(models.CloseIn, optional=True))]) -> Any:
        """`cases close`: once its report has gone out."""
        return actions.close_case(desk(), who, case_id, body.reason or "report_issued")

    @app.post("/cases/{case_id}/erase", response_model=models.Erased, tags=["personal data"],
              openapi_extra=documented(models.EraseIn))
    def erase_member(case_id: CaseId, who: Annotated[Principal, may("erase_member")],
                           body: Annotated[models.EraseIn, Depends(body_of(models.EraseIn))]) -> Any:
        """`cases erase`: the member's key destroyed (SPEC section 10); refused while a case of theirs is open."""
        return actions.erase_member(desk(), who, case_id, body.reason)

    # -- the deployment -------------------------------------------------------------------

    @app.get("/verify", response_model=models.Verification, tags=["audit"])
    def verify(who: Annotated[Principal, may("verify")],
               expect: str | None = Query(None, max_length=400, description="a head digest printed earlier")) -> Any:
        """`cases verify`: the tamper-evidence check over the whole log."""
        return actions.verify(desk(), who, expect)

    @app.get("/analytics", response_model=models.Analytics, tags=["audit"])
    def analytics(who: Annotated[Principal, may("analytics")]) -> Any:
        """`cases analytics`: weekly de-identified aggregates."""
        return actions.analytics(desk(), who)

    @app.get("/signing-key", response_model=models.PublicKey, tags=["audit"])
    def signing_key(who: Annotated[Principal, may("signing_key")]) -> Any:
        """`cases signing-key`: the public key that signs evidence bundles."""
        return actions.signing_key(desk(), who)

    @app.get("/sla/due", response_model=models.Due, tags=["sla"])
    def sla_due(who: Annotated[Principal, may("sla_due")],
                start: Annotated[str, Query(max_length=10, description="YYYY-MM-DD, not counted")],
                working_days: Annotated[int, Query(ge=0, le=10000)],
                nation: Annotated[str, Query(max_length=3)]) -> Any:
        """`cases sla due`: the N-th working day after the start day."""
        return actions.sla_due(desk(), who, parse_day(start, "start"), working_days, nation)

    @app.post("/sla/sweep", response_model=models.Sweep, tags=["sla"])
    def sla_sweep(who: Annotated[Principal, may("sla_sweep")]) -> Any:
        """`cases sla sweep`: flag every running review past its due date."""
        return actions.sla_sweep(desk(), who)

    # -- reviewer partners (SPEC section 9) -------------------------------------------------

    @app.get("/partners", response_model=models.PartnerList, tags=["partners"])
    def partner_list(who: Annotated[Principal, may("partner_list")]) -> Any:
        """`cases partner list`: the partners, their specialties, topics and open referrals."""
        return actions.partner_list(desk(), who)

    @app.post("/partners", response_model=models.PartnerAdded, status_code=201, tags=["partners"],
              openapi_extra=documented(models.PartnerIn))
    def partner_add(who: Annotated[Principal, may("partner_add")],
                    body: Annotated[models.PartnerIn, Depends(body_of(models.PartnerIn))]) -> Any:
        """`cases partner add`: with CASES_BUS the partner's topics, SCRAM user and ACLs first,
        then it is registered as the network for its specialties. The password is never echoed."""
        return actions.partner_add(desk(), who, body.name, body.specialties, body.password)

    @app.delete("/partners/{name}", response_model=models.PartnerRemoved, tags=["partners"])
    def partner_remove(name: str, who: Annotated[Principal, may("partner_remove")],
                       reason: str | None = Query(None, max_length=500, description="Why, for the audit")) -> Any:
        """`cases partner remove`: its access revoked (with CASES_BUS), its open referrals routed
        anew; an unknown partner is refused (409 unknown_partner)."""
        return actions.partner_remove(desk(), who, name, reason)


def check_health(desk: Desk) -> dict[str, Any]:
    stores = "reachable"
    try:
        with desk.reading() as rt:
            rt.reporting.views.count_by_status()
    except actions.NoStoresYet:
        stores = "empty"
    except Exception as failure:  # noqa: BLE001 - any failure to read is "unreachable"
        log.warning("health: stores unreachable (%s)", type(failure).__name__)
        stores = "unreachable"
    broker = None
    if desk.bus is not None:
        broker = "reachable" if broker_reachable(desk.bus.bootstrap) else "unreachable"
    return {"ok": stores != "unreachable" and broker != "unreachable", "stores": stores, "broker": broker}


def broker_reachable(bootstrap: str) -> bool:
    """A metadata request answered within a few seconds: the broker is there. On a secured
    broker an unauthenticated client is refused, which still proves it answers."""
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000,
                     "log_level": 0}).list_topics(timeout=3)
        return True
    except Exception:  # noqa: BLE001 - KafkaException or a timeout: not reachable
        return False
