"""Tokens and roles over every path: 401 without a valid token, 403 (and nothing recorded)
for a role without the right, the role table honoured for each role on each route."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from fastapi.routing import APIRoute

from services.api.auth import issue_token
from services.api.rights import RIGHTS, WRITES
from tests.api.conftest import NAMES, Api
from tests.api.routes import AUTHENTICATED, PARTNER, PARTNER_PASSWORD, ROUTES, path_of

ALL = ROUTES + AUTHENTICATED


def test_the_route_list_covers_every_route_of_the_app(api: Api) -> None:
    served = {(method, route.path) for route in api.app.routes if isinstance(route, APIRoute)
              for method in route.methods}
    listed = {(method, path.split("?")[0].replace("{case}", "{case_id}")) for _, method, path, _ in ALL}
    assert served - {("GET", "/health")} == listed - {("GET", "/")}  # the page: pages.router


# The page (pages.py) answers its own way without a token (a sign-in form): its tests are its own.
API = [r for r in ALL if r[0] != "page"]


@pytest.mark.parametrize(("action", "method", "path", "body"), API, ids=[r[0] for r in API])
def test_without_a_token_every_path_but_health_is_401(api: Api, action: str, method: str, path: str,
                                                      body: object) -> None:
    api.load_registers()
    case_id = api.open()
    before = api.events()
    response = api.call(method, path_of(path, case_id), body=body)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "a valid bearer token is required"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert api.events() == before


def test_health_needs_no_token_and_shows_no_data(api: Api) -> None:
    response = api.call("GET", "/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "stores": "empty", "broker": None}
    api.load_registers()
    api.open()
    assert api.call("GET", "/health").json() == {"ok": True, "stores": "reachable", "broker": None}


def bad_tokens(api: Api) -> dict[str, str]:
    good = api.token("admin")
    head, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin", "sub": "Mallory"}, b"another deployment's key" * 2,
                        algorithm="HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    tampered_claims = jwt.utils.base64url_encode(json.dumps({**claims, "role": "admin", "sub": "X"}).encode()).decode()
    return {
        "expired": issue_token(api.key, "admin", "Ada Admin", 1, now=time.time() - 7200),
        "tampered signature": f"{head}.{payload}.{signature[:-4]}AAAA",
        "tampered claims": f"{head}.{tampered_claims}.{signature}",
        "unknown key": forged,
        "unsigned": unsigned,
        "garbage": "not-a-token",
        "no role": jwt.encode({k: v for k, v in claims.items() if k != "role"}, api.key, algorithm="HS256"),
        "unknown role": jwt.encode({**claims, "role": "superuser"}, api.key, algorithm="HS256"),
    }


@pytest.mark.parametrize("kind", ["expired", "tampered signature", "tampered claims", "unknown key",
                                  "unsigned", "garbage", "no role", "unknown role"])
def test_a_bad_token_is_401(api: Api, kind: str) -> None:
    token = bad_tokens(api)[kind]
    for path in ("/cases", "/verify", "/rights"):
        response = api.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, path
        assert "Mallory" not in response.text
    assert api.client.get("/cases", cookies={"cases_token": token}).status_code == 401


def test_the_page_takes_its_token_from_the_cookie(api: Api) -> None:
    api.client.cookies.set("cases_token", api.token("case_handler"))
    response = api.client.get("/")
    api.client.cookies.clear()
    assert response.status_code == 200
    assert "Hannah Handler" in response.text


@pytest.mark.parametrize("role", list(NAMES))
def test_each_role_over_every_path(api: Api, role: str) -> None:
    """A role the table allows gets past the door (whatever the business then says); any
    other role is 403 and nothing is recorded."""
    api.load_registers()
    for action, method, path, body in ROUTES:
        case_id = api.open()
        before = api.events()
        response = api.call(method, path_of(path, case_id), role, body)
        allowed = role in RIGHTS[action]
        if allowed:
            assert response.status_code not in (401, 403) or (role == "clinician" and response.status_code == 403), \
                (action, response.text)
            assert response.status_code < 500, (action, response.text)
        else:
            assert response.status_code == 403, (action, response.text)
            assert response.json()["error"] == "forbidden"
            assert api.events() == before, action


@pytest.mark.parametrize(("action", "method", "path", "body"),
                         [r for r in ROUTES if r[0] in WRITES], ids=[r[0] for r in ROUTES if r[0] in WRITES])
def test_every_write_with_an_auditors_token_is_403_and_records_nothing(
        walked: tuple[Api, dict[str, str]], action: str, method: str, path: str, body: object) -> None:
    api, cases = walked
    for case_id in (cases["in_house"], cases["network"], cases["fresh"]):
        before = api.events()
        response = api.call(method, path_of(path, case_id), "auditor", body)
        assert response.status_code == 403, response.text
        assert response.json() == {"error": "forbidden", "role": "auditor",
                                   "message": "the role auditor may not do this"}
        assert api.events() == before


def test_an_auditor_reads_everything(walked: tuple[Api, dict[str, str]]) -> None:
    api, cases = walked
    for action, method, path, _ in ROUTES:
        if action in WRITES:
            continue
        response = api.call(method, path_of(path, cases["network"]), "auditor")
        assert response.status_code == 200, (action, response.text)


def test_partners_are_changed_by_admins_only_and_read_by_all_but_clinicians(api: Api) -> None:
    """On a registered partner: every other role's POST and DELETE is 403 and changes nothing
    (not its specialties, not its registration); a clinician may not even list them."""
    body = {"name": PARTNER, "specialties": ["orthopaedics"], "password": PARTNER_PASSWORD}
    assert api.call("POST", "/partners", "admin", body).status_code == 201
    listed = api.call("GET", "/partners", "admin").json()
    before = api.events()
    for role in ("case_handler", "clinician", "auditor"):
        for method, path, change in (("POST", "/partners", {**body, "specialties": ["cardiology"]}),
                                     ("POST", "/partners", {**body, "name": "other"}),
                                     ("DELETE", f"/partners/{PARTNER}", None)):
            response = api.call(method, path, role, change)
            assert response.status_code == 403, (role, method, response.text)
            assert response.json() == {"error": "forbidden", "role": role,
                                       "message": f"the role {role} may not do this"}
            assert PARTNER_PASSWORD not in response.text
        assert api.events() == before, role
    for role in ("case_handler", "auditor"):
        assert api.call("GET", "/partners", role).json() == listed
    assert api.call("GET", "/partners", "clinician").status_code == 403
    assert api.call("GET", "/partners", "admin").json() == listed
