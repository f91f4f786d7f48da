"""Monitoring that is proven: the Prometheus config and alert rules pass promtool, the
alert rules pass their unit tests (infra/prometheus/alerts_test.yml), and a real
Prometheus scrapes a worker's /metrics endpoint, sees its counters move, fires the alerts
on them and stores no identifier in any label.

Needs Debian's prometheus package (prometheus and promtool): `bash
infra/prometheus/install.sh`, which `make test` runs. Never skipped without it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.runtime.metrics import WorkerMetrics
from tests.fixtures import Desk, policy

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "prometheus"
INSTALL = "run `bash infra/prometheus/install.sh` (make test runs it) to install Debian's prometheus package"
#: Generous: Prometheus is ready in well under a second and scrapes every second here.
DEADLINE_SECONDS = 60
UUID_LIKE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)

T = TypeVar("T")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # never skipped: these tests are the proof that the monitoring works
        pytest.fail(f"{name} not found on PATH: {INSTALL}")
    return path


def promtool(*args: str) -> None:
    done = subprocess.run([tool("promtool"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def test_the_scrape_config_is_valid() -> None:
    promtool("check", "config", "infra/prometheus/prometheus.yml")


def test_the_alert_rules_are_valid() -> None:
    promtool("check", "rules", "infra/prometheus/alerts.yml")


def test_the_alert_rules_pass_their_unit_tests() -> None:
    promtool("test", "rules", "infra/prometheus/alerts_test.yml")


# -- a real Prometheus scraping a real worker endpoint ---------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A `prometheus` process of this test's own: its port, data directory and config."""

    def __init__(self, tmp: Path, target_port: int):
        self.port = free_port()
        self.target = f"127.0.0.1:{target_port}"
        tmp.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the scrape job of prometheus.yml (same job name, so the rules'
        # up{job="cases-workers"} matches), one target, every second, and the real rules.
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(PROMETHEUS / "alerts.yml")],
            "scrape_configs": [{
                "job_name": "cases-workers", "metrics_path": "/metrics",
                "static_configs": [{"targets": [self.target], "labels": {"worker": "review"}}],
            }],
        }
        self.config = tmp / "prometheus.yml"
        self.config.write_text(json.dumps(config, indent=2))
        self.log = tmp / "prometheus.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [tool("prometheus"), f"--config.file={self.config}",
                 f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
        self.deadline = time.monotonic() + DEADLINE_SECONDS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        return json.loads(body) if path.startswith("/api/") else body

    def api(self, path: str, **params: str) -> Any:
        answer = self.get(path, **params)
        assert answer["status"] == "success", answer
        return answer["data"]

    def wait_for(self, what: str, probe: Callable[[], T | None]) -> T:
        """Poll `probe` until it returns something, failing the test at the deadline."""
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited ({self.process.returncode}) waiting for {what}:\n"
                            f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                result = probe()
            except (urllib.error.URLError, ConnectionError):
                result = None  # not listening yet
            if result is not None:
                return result
            if time.monotonic() > self.deadline:
                pytest.fail(f"no {what} within {DEADLINE_SECONDS}s; prometheus log:\n"
                            f"{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def sample(self, query: str, labels: dict[str, str]) -> float | None:
        """The value of the series with exactly these labels (besides __name__), if any."""
        for row in self.api("/api/v1/query", query=query)["result"]:
            metric = {k: v for k, v in row["metric"].items() if k != "__name__"}
            if metric == labels:
                return float(row["value"][1])
        return None

    def firing(self, alertname: str) -> list[dict[str, str]]:
        return [a["labels"] for a in self.api("/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") == alertname and a["state"] == "firing"]


def test_a_real_prometheus_scrapes_a_worker_and_fires_the_alerts(tmp_path: Path) -> None:
    desk = Desk(tmp_path / "home")
    metrics = WorkerMetrics("review", desk.rt.review.register_metrics)
    prometheus: Prometheus | None = None
    try:
        port = metrics.serve(free_port(), addr="127.0.0.1")
        prometheus = Prometheus(tmp_path / "prometheus", port)
        target = {"job": "cases-workers", "instance": prometheus.target, "worker": "review"}
        dead = {**target, "service": "review", "reason": "undecodable"}
        breaches = {**target, "service": "review"}

        assert prometheus.wait_for("/-/ready", lambda: prometheus.get("/-/ready") or None)
        prometheus.wait_for("the target up", lambda: prometheus.sample("up", target) == 1 or None)
        # The counters' first samples are 0, so increase() sees the bump below.
        prometheus.wait_for("the first scrape of the counters", lambda: (prometheus.sample(
            "cases_dead_letters_total", dead) == 0 and prometheus.sample(
            "cases_sla_breaches_flagged_total", breaches) == 0) or None)

        # Real work with real case ids: a case taken to review and past its SLA, its events
        # counted, and a dead letter whose reason text quotes an identifier.
        desk.load_policies(policy())
        case = desk.open()
        desk.to_review(case)
        for event in desk.rt.reporting.views.audit_trail(case):
            metrics.event_processed(event, 0.002)
        desk.later(days=30)
        assert desk.rt.review.on_timer(desk.clock.now()) == 1
        metrics.dead_lettered(f"undecodable: not JSON (case {case}, event {uuid.uuid4()})")

        prometheus.wait_for("cases_dead_letters_total == 1", lambda: prometheus.sample(
            "cases_dead_letters_total", dead) == 1 or None)
        assert prometheus.sample("cases_sla_breaches_flagged_total", breaches) == 1
        for reason in ("missing_header", "reaction_failed", "other"):
            assert prometheus.sample("cases_dead_letters_total", {**dead, "reason": reason}) == 0
        assert prometheus.sample("cases_events_processed_total",
                                 {**target, "service": "review", "type": "case_opened"}) == 1

        # The rules, loaded from infra/prometheus/alerts.yml, fire on what was scraped.
        prometheus.wait_for("CasesDeadLetters firing", lambda: prometheus.firing("CasesDeadLetters") or None)
        assert prometheus.firing("CasesDeadLetters") == [
            {"alertname": "CasesDeadLetters", "severity": "ticket", "service": "review",
             "reason": "undecodable"}]
        prometheus.wait_for("CasesSlaBreached firing", lambda: prometheus.firing("CasesSlaBreached") or None)
        assert prometheus.firing("CasesSlaBreached") == [
            {"alertname": "CasesSlaBreached", "severity": "ticket", **breaches}]
        assert prometheus.firing("CasesWorkerDown") == []

        # No identifier in any label of anything Prometheus stored from the worker.
        series = prometheus.api("/api/v1/series", **{"match[]": '{job="cases-workers"}'})
        names = {s["__name__"] for s in series}
        assert {"cases_events_processed_total", "cases_dead_letters_total",
                "cases_sla_breaches_flagged_total", "cases_processing_seconds_bucket", "up"} <= names
        for labels in series:
            for name, value in labels.items():
                assert not UUID_LIKE.search(value), f"{name}={value!r} in {labels}"
        assert str(case) not in json.dumps(series)
    finally:
        if prometheus is not None:
            prometheus.stop()
        metrics.close()
        desk.close()
