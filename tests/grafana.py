"""Reading the Grafana dashboards (deploy/grafana/dashboards) as tests need them: their panels,
each panel's queries, and a query made runnable outside Grafana."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["DASHBOARDS", "GRAFANA", "load", "panels", "queries", "runnable"]

GRAFANA = Path(__file__).resolve().parents[1] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

# Grafana's built-in intervals ($__rate_interval, ${__range}...) and a dashboard's own variables.
_BUILT_IN = re.compile(r"\$\{?__(?:rate_interval|interval|range)\b\}?")
_VARIABLE = re.compile(r"\$\{(?!__)(\w+)(?::\w+)?\}|\$(?!__)(\w+)|\[\[(\w+)\]\]")


def load(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, template variables filled in with
    a regex matching every value (what "All" selects)."""
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    return [
        (panel["title"], _fill(target["expr"], variables))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def _fill(expr: str, variables: set[str]) -> str:
    def every_value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in variables, f"{expr!r} uses ${name}, which its dashboard does not define"
        return ".*"

    return _VARIABLE.sub(every_value, expr)


def runnable(expr: str, *, window: str) -> str:
    """The query as Prometheus takes it: Grafana's intervals replaced by `window`."""
    return _BUILT_IN.sub(window, expr)
