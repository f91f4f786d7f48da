"""The analytics key: the deployment's secret for analytics references."""

from __future__ import annotations

from pathlib import Path

from services.runtime.deployment import deployment_keys


def analytics_key(home: Path) -> bytes:
    return deployment_keys(home)["analytics"]
