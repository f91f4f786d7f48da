"""`cases serve` (the HTTP API and the page, SPEC section 12) and `cases token`.

FastAPI, uvicorn and PyJWT are imported when these commands run, never when `cases` starts:
`cases --help` and every other command stay as fast as before."""

from __future__ import annotations

import typer

from services.cli import presenters
from services.cli.plumbing import OPTIONS, app, emit
from services.common.errors import BadInput
from services.runtime.stores import cases_home


@app.command("serve")
def serve(
    port: int = typer.Option(8080, "--port", help="TCP port (default 8080)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default loopback only)"),
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json) and the case handler's page at / until
    SIGTERM or SIGINT. Every path but /health needs a bearer token from `cases token`."""
    if not 0 < port < 65536:
        raise BadInput("--port", "must be from 1 to 65535")
    if not host.strip():
        raise BadInput("--host", "must not be empty")
    import uvicorn

    from services.api.app import create_app

    api = create_app(cases_home(OPTIONS.home))
    presenters.err.print(f"Serving the API on http://{host}:{port}/ (OpenAPI: /openapi.json)")
    uvicorn.run(api, host=host, port=port, log_level="info", server_header=False)


@app.command("token")
def token(
    role: str = typer.Option(..., "--role", help="case_handler, clinician, auditor or admin"),
    name: str = typer.Option(..., "--name", help="Who it is for: recorded as the actor of what they do"),
    ttl_hours: float = typer.Option(8.0, "--ttl-hours", help="How long it is valid (default 8 hours, at most 720)"),
) -> None:
    """A signed bearer token for the API: `Authorization: Bearer TOKEN`."""
    from services.api.auth import check_token_request, issue_token, token_key

    check_token_request(role, name, ttl_hours)  # before the deployment's key is touched
    made = issue_token(token_key(cases_home(OPTIONS.home)), role, name, ttl_hours)
    emit({"token": made}, lambda r: presenters.say(r["token"]))
