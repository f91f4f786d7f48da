"""The auditor's view and the clinician's packs.

`/audit`: `cases verify` over the whole log, then every case's replay findings (SLA breaches,
recalls a partner did not acknowledge, disclosures without a valid consent) and every recorded
read of identifiable data, newest cases first. `/case/{id}/evidence.zip`: the signed evidence
bundle of `cases replay --export` (replay-CASE.json, the FHIR bundle, the manifest and its
signature), made in a temporary directory and sent as one zip; like the CLI's, it never holds
a plaintext identifier.

`/pack/{id}`: the pseudonymised review pack of a case assigned to the clinician signed in
(actions.review_pack refuses any other case), and the form for their opinion.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services.api import actions, page_views
from services.api.auth import Principal
from services.api.page_session import (
    csrf_ok,
    guarded,
    parse_id,
    problem_text,
    refusal_text,
    render,
    stale_form,
    text,
)
from services.api.rights import permit
from services.common.errors import BadInput, Refused, ServiceUnavailable, UnknownCase

router = APIRouter(include_in_schema=False)
#: The auditor's view replays at most this many cases (newest first) and says so when it stops.
AUDIT_CASES = 200


@router.get("/audit")
def audit(request: Request) -> Response:
    def build(who: Principal) -> Response:
        desk: actions.Desk = request.app.state.desk
        verified = actions.verify(desk, who)
        listed = actions.list_cases(desk, who)["cases"]
        findings: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        for row in listed[:AUDIT_CASES]:
            replayed = actions.replay_case(desk, who, UUID(str(row["case_id"])))
            ref = str(replayed["state"].get("member_ref") or "")
            for finding in replayed.get("findings") or []:
                findings.append({**finding, "case_id": row["case_id"], "member_ref": ref,
                                 "label": page_views.label(finding.get("kind"))})
            for read in replayed.get("reads") or []:
                fields = sorted({str(f).rsplit(".", 1)[-1] for f in read.get("fields") or []})
                reads.append({**read, "case_id": row["case_id"], "member_ref": ref, "what": ", ".join(fields)
                              or page_views.label(read.get("kind")), "when": page_views.when(read.get("at"))})
        return render(request, "audit.html", who, verified=verified, findings=findings, reads=reads,
                      cases=len(listed), capped=len(listed) > AUDIT_CASES, limit=AUDIT_CASES)

    return guarded(request, build)


@router.get("/case/{case_id}/evidence.zip")
def evidence(request: Request, case_id: str) -> Response:
    def build(who: Principal) -> Response:
        cid = parse_id(case_id)
        body = evidence_zip(request.app.state.desk, who, cid)
        return Response(body, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="evidence-{cid}.zip"',
            "Cache-Control": "no-store"})

    return guarded(request, build)


def evidence_zip(desk: actions.Desk, who: Principal, case_id: UUID) -> bytes:
    """What `cases replay CASE --export DIR` writes, signed by the deployment, zipped."""
    from services.bootstrap import load_keys
    from services.reporting.audit.evidence import write_evidence
    from services.reporting.replay import events_as_of

    permit(who, "replay_case")
    result = actions.replay_case(desk, who, case_id)  # sealed values stay "[sealed]"
    with desk.reading() as rt:
        events = actions.case_trail(rt, case_id)
    try:
        seed = load_keys(desk.home, create=False).signing
    except FileNotFoundError:
        raise ServiceUnavailable("this deployment has no signing key yet") from None
    with tempfile.TemporaryDirectory(prefix="evidence-") as tmp:
        directory = Path(tmp)
        write_evidence(directory, result, events_as_of(events, None), signing_seed=seed)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in sorted(directory.iterdir()):
                bundle.write(path, arcname=path.name)
    return buffer.getvalue()


# -- the clinician's packs --------------------------------------------------------------------


@router.get("/pack/{case_id}")
def pack_page(request: Request, case_id: str) -> Response:
    return guarded(request, lambda who: render_pack(request, who, case_id))


def render_pack(request: Request, who: Principal, case_id: str, status_code: int = 200,
                errors: dict[str, str] | None = None, alert: str | None = None,
                values: dict[str, str] | None = None) -> Response:
    cid = parse_id(case_id)
    pack = actions.review_pack(request.app.state.desk, who, cid)
    return render(request, "pack.html", who, status_code, pack=pack, body=pack["pack"], case_id=str(cid),
                  outcomes=actions.OUTCOMES, errors=errors or {}, alert=alert, values=values or {})


@router.post("/pack/{case_id}/opinion")
async def pack_opinion(request: Request, case_id: str) -> Response:
    form = await request.form()

    def build(who: Principal) -> Response:
        if not csrf_ok(request, form):
            return stale_form(request, who)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        cid = parse_id(case_id)
        try:
            actions.submit_opinion(request.app.state.desk, who, cid, text(form, "outcome"),
                                   text(form, "summary"), who.name if who.role == "clinician"
                                   else text(form, "reviewer") or None)
        except UnknownCase:
            raise
        except BadInput as failure:
            return render_pack(request, who, case_id, 400, errors={failure.field: problem_text(failure)},
                               values=values)
        except Refused as refusal:
            return render_pack(request, who, case_id, 409, alert=refusal_text(refusal), values=values)
        return RedirectResponse(f"/pack/{cid}?done=opinion", status_code=303)

    return await run_in_threadpool(guarded, request, build)
