"""The Grafana dashboards (deploy/grafana/dashboards) load as Grafana provisions them: each has a
uid and a title, its panels have distinct ids and read the data source the provisioning file
declares, and no query groups by an id (campaign, colleague, share, account): Prometheus keeps
bounded label sets only. tests/integration/test_dashboards_prometheus.py runs every query
against a real Prometheus scraping a running stack."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.grafana import DASHBOARDS, GRAFANA, load, panels, queries, runnable

ROOT = Path(__file__).resolve().parents[1]

# The labels a panel may group or aggregate by: bounded sets, whatever the number of campaigns
# or colleagues (`org_id` is one per customer organisation).
BOUNDED_LABELS = {
    "network",
    "outcome",
    "queue",
    "kind",
    "status",
    "mode",
    "operation",
    "within",
    "le",
    "org_id",
    "instance",
    "job",
}
# What a result's series are told apart by: an aggregation's `by`, a join's `group_left/right`.
GROUPING = re.compile(r"\b(?:by|group_left|group_right)\s*\(([^)]*)\)")


def datasource_uid() -> str:
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    [source] = provisioning["datasources"]
    assert source["type"] == "prometheus"
    uid: str = source["uid"]
    return uid


def test_the_four_dashboards_are_there() -> None:
    assert {load(p)["uid"] for p in DASHBOARDS} == {
        "chorus-reach",
        "chorus-network-health",
        "chorus-queues",
        "chorus-colleagues",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_well_formed_for_grafana(path: Path) -> None:
    dashboard = load(path)
    uid = datasource_uid()
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40, "Grafana caps uids at 40"
    assert dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    found = panels(dashboard)
    assert found, "a dashboard without panels"
    ids = [panel["id"] for panel in found]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    for panel in found:
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert title, f"a panel without a title in {path.name}"
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, title
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, title
        assert panel["targets"], f"{title}: no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), title
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], title
    titles = [panel["title"] for panel in found]
    assert len(titles) == len(set(titles)), "the Prometheus test names panels by title"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == uid, variable["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_no_query_groups_by_an_unbounded_label(path: Path) -> None:
    for title, expr in queries(load(path)):
        for labels in GROUPING.findall(expr):
            grouped = {label.strip() for label in labels.split(",") if label.strip()}
            assert grouped <= BOUNDED_LABELS, f"{title}: groups by {grouped - BOUNDED_LABELS}"
        # No id is matched either: a panel per campaign belongs in the API, not in Prometheus.
        assert not re.search(
            r"\b(campaign|colleague|ambassador|share|account)(_id)?\s*=~?", expr
        ), title
    for panel in panels(load(path)):
        for target in panel.get("targets", []):
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert legend <= BOUNDED_LABELS, panel["title"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_parses_as_promql(path: Path, tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule), template variables filled in."""
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"panel_{i}", "expr": runnable(expr, window="5m")}
                    for i, (_, expr) in enumerate(queries(load(path)))
                ],
            }
        ]
    }
    file = tmp_path / "rules.yml"
    file.write_text(yaml.safe_dump(rules))
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by `make test`"
    result = subprocess.run(
        [promtool, "check", "rules", str(file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_loads_the_dashboards_compose_mounts() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "chorus.yaml").read_text())
    [chorus] = provider["providers"]
    assert chorus["type"] == "file"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{chorus['options']['path']}:ro" in volumes
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    source = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    # The data source is the compose file's Prometheus.
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]


def test_compose_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by `make test`"
    result = subprocess.run(
        [promtool, "check", "config", "deploy/prometheus/prometheus.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
