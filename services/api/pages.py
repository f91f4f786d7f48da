"""The case handler's web page, server-rendered from the same app (SPEC section 12).

A minimal case list for now; the full page (case page, actions, the auditor's view) is built
on this router. It uses the same actions and the same token (the cookie `cases_token`, or a
bearer header) as the JSON routes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.api import actions
from services.api.auth import Principal, authenticate

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def case_list(request: Request, who: Annotated[Principal, Depends(authenticate)],
              status: str | None = None) -> Any:
    desk: actions.Desk = request.app.state.desk
    cases = actions.list_cases(desk, who, status=status or None)
    return templates.TemplateResponse(request, "cases.html", {"who": who, "cases": cases["cases"],
                                                              "status": status or ""})
