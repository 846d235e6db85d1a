"""The alert rules (deploy/prometheus/alerts.yml) are valid Prometheus rules, and each fires on
the series that should raise it and stays quiet on healthy ones (tests/alerts/alerts_test.yml),
both checked by Debian's `promtool`, which `make test` installs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by `make test`"
    return subprocess.run(
        [promtool, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", "deploy/prometheus/alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    result = _promtool("test", "rules", "tests/alerts/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
