"""The auditor's evidence over a case's log: step-by-step states, consent findings, SLA,
and a FHIR R5 bundle an auditor can keep. Pure functions of the event list."""

from services.reporting.audit.findings import audit_findings
from services.reporting.audit.steps import steps

__all__ = ["audit_findings", "steps"]
