"""Every Kustomize overlay renders (`kubectl kustomize`) and validates: core kinds against the
Kubernetes schemas (kubernetes-validate), the operators' kinds against their CRDs' schemas kept
in deploy/k8s/crds. Then what a first deploy needs, checked on the rendered objects."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from chorus.common.kinds import Network
from chorus.common.settings import DatabaseSettings, ServiceSettings
from chorus.common.topology import all_queues, publisher_queue
from chorus.publisher.settings import PublisherSettings
from chorus.scheduler.settings import SchedulerSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
OVERLAYS = ("development", "production")
# A version kubernetes-validate ships schemas for (and the oldest we support).
KUBERNETES = "1.32.0"
Doc = dict[str, Any]


@cache
def render(overlay: str) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (Debian's kubernetes-client) is installed by `make bootstrap`"
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(docs: tuple[Doc, ...], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    [doc] = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


@cache
def crd_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> openAPIV3Schema, from the CRDs kept in the repo."""
    schemas = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def unknown_fields(value: Any, schema: Doc, path: str = "") -> list[str]:
    """Fields the schema does not declare: the API server would drop them without a word."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
            elif not isinstance(schema.get("additionalProperties"), dict):
                found.append(f"{path}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


def pod_specs(docs: tuple[Doc, ...]) -> list[tuple[str, Doc]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    ]


def containers(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def env_of(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    docs = render(overlay)
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        schema = crd_schemas().get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            assert "." not in doc["apiVersion"].split("/")[0] or doc["apiVersion"].endswith(
                ".k8s.io/v1"
            ), f"{what}: a custom kind without its CRD in deploy/k8s/crds"
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        else:
            # Not checked as a schema: Go's patterns (`^(?i)...`) are not Python's.
            jsonschema.Draft4Validator(schema).validate(doc)
            assert unknown_fields(doc, schema) == [], what


def test_the_crd_check_catches_a_misspelt_field() -> None:
    """The CRDs' schemas mostly allow unknown fields; the walk above does not."""
    [scaled] = [d for d in render("production") if d["kind"] == "ScaledObject"][:1]
    schema = crd_schemas()[("keda.sh/v1alpha1", "ScaledObject")]
    typo = {**scaled, "spec": {**scaled["spec"], "cooldownPeriods": 300}}
    assert unknown_fields(typo, schema) == [".spec.cooldownPeriods"]
    wrong = {**scaled, "spec": {**scaled["spec"], "minReplicaCount": "1"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(wrong)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_scaled_publisher_per_network_on_a_queue_the_bus_declares(overlay: str) -> None:
    docs = render(overlay)
    declared = {q.name for q in all_queues()}
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in of_kind(docs, "ScaledObject")}
    publishers = {
        d["metadata"]["name"]: d
        for d in of_kind(docs, "Deployment")
        if d["metadata"]["name"].startswith("chorus-publisher-")
    }
    assert set(scaled) == set(publishers) == {f"chorus-publisher-{n.value}" for n in Network}
    rabbit = of_kind(docs, "RabbitmqCluster")[0]
    namespace = rabbit["metadata"]["namespace"]
    # What the scheduler puts in one message: from the ConfigMap every container reads.
    config = named(docs, "ConfigMap", "chorus")["data"]
    per_message = int(
        config.get(
            "CHORUS_SHARES_PER_MESSAGE",
            SchedulerSettings.model_fields["shares_per_message"].default,
        )
    )
    for network in Network:
        name = f"chorus-publisher-{network.value}"
        [container] = publishers[name]["spec"]["template"]["spec"]["containers"]
        env = env_of(container)
        assert env["NETWORK"] == network.value
        [trigger] = scaled[name]["spec"]["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq"
        assert meta["queueName"] == publisher_queue(network).name
        assert meta["queueName"] in declared
        # Unacknowledged (in-flight) messages count: the management API, not AMQP.
        assert meta["protocol"] == "http" and meta["mode"] == "QueueLength"
        assert meta["host"] == f"http://{rabbit['metadata']['name']}.{namespace}.svc:15672"
        # A replica's share of the queue is what it posts at once, in full messages.
        prefetch = int(
            env.get("CHORUS_PREFETCH", PublisherSettings.model_fields["prefetch"].default)
        )
        assert int(meta["value"]) == prefetch // per_message
        # The messages it takes at once hold at least that.
        taken = int(
            env.get(
                "CHORUS_PREFETCH_MESSAGES",
                PublisherSettings.model_fields["prefetch_messages"].default,
            )
        )
        assert taken * per_message >= prefetch
        spec = scaled[name]["spec"]
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        assert spec["cooldownPeriod"] >= 60
        auth = named(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        assert {r["name"] for r in auth["spec"]["secretTargetRef"]} == {
            f"{rabbit['metadata']['name']}-default-user"
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_come_from_a_registry_with_the_overlays_tag(overlay: str) -> None:
    docs = render(overlay)
    tags = set()
    for name, pod in pod_specs(docs):
        for container in containers(pod):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert "." in repository.split("/")[0], f"{name}: {image} names no registry"
            assert tag and tag != "latest" and "/" not in tag, f"{name}: {image}"
            assert container["imagePullPolicy"] == "IfNotPresent", name
            tags.add(tag)
    assert len(tags) == 1, tags
    # The migration Job is a new one for every release: its name carries the tag.
    [job] = of_kind(docs, "Job")
    assert job["metadata"]["name"] == f"chorus-migrate-{tags.pop()}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_wait_for_the_migrations_and_drain_before_they_are_killed(
    overlay: str,
) -> None:
    docs = render(overlay)
    deployments = of_kind(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {
        "chorus-gateway",
        "chorus-scheduler",
        "chorus-metrics",
        *(f"chorus-publisher-{n.value}" for n in Network),
    }
    default_grace = ServiceSettings.model_fields["shutdown_grace_seconds"].default
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez", name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["ops"] == 9000, name
        assert container["readinessProbe"]["httpGet"]["port"] in ports, name
        # The drain: the grace for work in flight, 3 x 5 s of closing, any preStop pause.
        env = env_of(container)
        drain = float(env.get("CHORUS_SHUTDOWN_GRACE_SECONDS", default_grace)) + 15
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        drain += float(pre_stop["command"][1]) if pre_stop else 0
        assert pod["terminationGracePeriodSeconds"] > drain, name
        if name != "chorus-gateway":
            # Workers consume even when unready: an initContainer holds them back.
            [wait] = pod["initContainers"]
            assert wait["command"][-3:-1] == ["chorus.common.health", "wait-for-schema"]
            assert wait["image"] == container["image"]
        for each in containers(pod):
            requests, limits = each["resources"]["requests"], each["resources"]["limits"]
            assert _mebibytes(requests["memory"]) <= _mebibytes(limits["memory"]), name


def _mebibytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert match, f"{quantity}: write memory in Mi or Gi"
    return int(match[1]) * (1024 if match[2] == "Gi" else 1)


def _dependent_env_in_order(container: Doc) -> None:
    seen: set[str] = set()
    for entry in container.get("env", []):
        for reference in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
            assert reference in seen, (container["name"], entry["name"], reference)
        seen.add(entry["name"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_written(overlay: str) -> None:
    docs = render(overlay)
    assert not of_kind(docs, "Secret")
    postgres = of_kind(docs, "Cluster")[0]["metadata"]["name"]
    rabbit = of_kind(docs, "RabbitmqCluster")[0]["metadata"]["name"]
    # Generated by CloudNativePG, by the RabbitMQ operator, and created by the operator.
    allowed = {f"{postgres}-app", f"{rabbit}-default-user", "chorus"}
    for name, pod in pod_specs(docs):
        for container in containers(pod):
            _dependent_env_in_order(container)
            env = env_of(container)
            for value in env.values():
                if isinstance(value, dict) and "secretKeyRef" in value:
                    assert value["secretKeyRef"]["name"] in allowed, name
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in allowed, name
            url = env["CHORUS_DATABASE_URL"]
            assert url.startswith("postgresql+asyncpg://") and f"@{postgres}-rw:" in url, name
            if "CHORUS_AMQP_URL" in env:
                assert env["CHORUS_AMQP_URL"]["secretKeyRef"]["name"] == f"{rabbit}-default-user"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateways_public_port_is_open_to_the_world(overlay: str) -> None:
    docs = render(overlay)
    policies = of_kind(docs, "NetworkPolicy")
    chorus = {"app.kubernetes.io/part-of": "chorus"}
    # Every Chorus pod starts from "nothing comes in".
    assert any(
        p["spec"]["podSelector"] == {"matchLabels": chorus} and "ingress" not in p["spec"]
        for p in policies
    )
    open_rules = [
        (p["spec"]["podSelector"], rule)
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if "from" not in rule
    ]
    assert open_rules == [
        (
            {"matchLabels": {"app.kubernetes.io/instance": "chorus-gateway"}},
            {"ports": [{"port": "http", "protocol": "TCP"}]},
        )
    ]
    # Ops ports: from Prometheus only.
    [ops] = [
        p
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if {"port": "ops", "protocol": "TCP"} in rule.get("ports", [])
    ]
    [rule] = ops["spec"]["ingress"]
    assert rule["from"][0]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "prometheus"}
    }
    # No Service carries an ops port: metrics are scraped from the pods (PodMonitor).
    for service in of_kind(docs, "Service"):
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    [monitor] = of_kind(docs, "PodMonitor")
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["ops"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_let_a_node_drain_one_pod_at_a_time(overlay: str) -> None:
    docs = render(overlay)
    budgets = {
        b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]: b["spec"]
        for b in of_kind(docs, "PodDisruptionBudget")
    }
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == name
        # maxUnavailable 1: never a budget that blocks a drain for ever (minAvailable of a
        # one-replica deployment would).
        assert budgets[name] == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_scales_on_cpu_and_apply_leaves_the_scaled_replicas_alone(
    overlay: str,
) -> None:
    docs = render(overlay)
    hpa = named(docs, "HorizontalPodAutoscaler", "chorus-gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chorus-gateway"
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    gateway = named(docs, "Deployment", "chorus-gateway")
    [container] = gateway["spec"]["template"]["spec"]["containers"]
    assert env_of(container)["CHORUS_REPLICAS"] == str(hpa["spec"]["minReplicas"])
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        autoscaled = name == "chorus-gateway" or name.startswith("chorus-publisher-")
        assert ("replicas" in deployment["spec"]) != autoscaled, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_replica_at_its_maximum_fits_the_database_connections(overlay: str) -> None:
    """README, "Database connections": pool + max_overflow per process, plus one LISTEN
    connection for each relay or releaser (two for the scheduler), none for metrics."""
    docs = render(overlay)
    pool = DatabaseSettings.model_fields["database_pool_size"].default
    overflow = DatabaseSettings.model_fields["database_max_overflow"].default
    listen = {"chorus-gateway": 1, "chorus-scheduler": 2, "chorus-metrics": 0}
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in of_kind(docs, "ScaledObject")}
    hpa = named(docs, "HorizontalPodAutoscaler", "chorus-gateway")
    total = 2  # the migration Job, the initContainers' checks
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        if name in scaled:
            replicas = scaled[name]["spec"]["maxReplicaCount"]
        elif name == "chorus-gateway":
            replicas = hpa["spec"]["maxReplicas"]
        else:
            replicas = deployment["spec"]["replicas"]
        total += replicas * (pool + overflow + listen.get(name, 1))
    [cluster] = of_kind(docs, "Cluster")
    assert total <= int(cluster["spec"]["postgresql"]["parameters"]["max_connections"]) - 3


def test_the_alert_rules_are_the_ones_promtool_tests() -> None:
    [rule] = of_kind(render("production"), "PrometheusRule")
    checked = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert rule["spec"]["groups"] == checked["groups"]
