"""The secured broker lets in only the principals the project provisioned, and a client
that finds the broker secured without its credentials says so instead of hanging."""

from __future__ import annotations

from pathlib import Path

from services.runtime.kafka.config import CLI_PRINCIPAL, SERVICE_PRINCIPALS
from tests.e2e.cli import Cases
from tests.fixtures import policy
from tests.security.secure_bus import SecureBroker, connection_errors


def test_a_client_without_credentials_is_refused(broker: SecureBroker) -> None:
    errors = connection_errors(broker.bootstrap, None)
    assert "no metadata" in errors, errors  # it learns nothing, not even which topics exist


def test_a_wrong_password_is_refused(broker: SecureBroker) -> None:
    principal = SERVICE_PRINCIPALS["intake"]
    assert "_AUTHENTICATION" in connection_errors(broker.bootstrap, (principal, "not-its-password"))
    assert "_AUTHENTICATION" in connection_errors(broker.bootstrap, ("nobody", "whatever"))


def test_every_provisioned_principal_is_let_in(broker: SecureBroker) -> None:
    for principal in [*SERVICE_PRINCIPALS.values(), CLI_PRINCIPAL]:
        path = broker.secrets / f"{principal}.json"
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        assert connection_errors(broker.bootstrap, (principal, broker.password(principal))) == [], principal


def test_missing_credentials_are_an_infrastructure_failure(broker: SecureBroker, tmp_path: Path) -> None:
    """Secured (the marker) but nothing provisioned: exit 3 naming the principal and where
    its credentials were looked for, and no traceback: the command line and a worker alike."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "secure").touch()
    env = {"CASES_KAFKA_SECRETS": str(secrets), "CASES_BUS": f"kafka://{broker.bootstrap}"}
    policies = {"policies": [policy()]}
    assert Cases(tmp_path / "home")("policies", "load", Cases(tmp_path / "home").write("p.json", policies)).code == 0
    cases = Cases(tmp_path / "home", env=env)  # the same stores, now over the secured broker
    loaded = cases("policies", "load", cases.write("policies.json", policies))
    assert loaded.code == 3, loaded
    said = loaded.stdout + loaded.stderr
    assert "cases-cli" in said and str(secrets) in said and "Traceback" not in said
    worker = cases("worker", "intake", as_json=False)
    assert worker.code == 3, worker
    assert "svc-intake" in worker.stdout + worker.stderr and "Traceback" not in worker.stderr
