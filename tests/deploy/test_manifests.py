"""The deployment files, checked offline: every YAML file under deploy/ passes yamllint; every
Kubernetes manifest validates against the Kubernetes API schemas shipped in the
``kubernetes-validate`` package; every file a kustomization names exists and every patch hits a
resource of its base; each service has what production needs (probes, resource requests,
Service, PodDisruptionBudget, HorizontalPodAutoscaler, a migration container); the compose file
runs the whole suite with health checks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.31.0"  # the oldest version production clusters run; newer ones accept these too
PROCESSES = ["gateway", "svc-matters", "svc-prequal", "svc-licences", "svc-helpdesk", "svc-knowledge"]
SERVICES = [p.removeprefix("svc-") for p in PROCESSES if p != "gateway"]
# Kinds of tools and operators, not of the Kubernetes API: checked for their references only.
NOT_KUBERNETES_API = ("kustomize.config.k8s.io/", "postgresql.cnpg.io/")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kustomization(directory: Path) -> dict[str, Any]:
    return _documents(directory / "kustomization.yaml")[0]


def _resources(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization's ``resources`` list, following nested kustomizations."""
    found = []
    for entry in _kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        found += _resources(target) if target.is_dir() else _documents(target)
    return found


MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"
                   and p.parent.name != "production" and p.name != "nats-values.yaml")


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_lints_clean(path: Path) -> None:
    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    problems = list(linter.run(path.read_text(encoding="utf-8"), config, str(path)))
    assert not problems, "\n".join(f"{path.name}:{p.line}:{p.column} {p.message} ({p.rule})" for p in problems)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        if document["apiVersion"].startswith(NOT_KUBERNETES_API):
            assert document["metadata"]["name"] and document.get("spec") is not None
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_really_refuses_a_wrong_manifest() -> None:
    deployment = next(d for d in _documents(K8S / "base" / "svc-matters.yaml") if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("directory", sorted(p.parent for p in K8S.rglob("kustomization.yaml")),
                         ids=lambda p: str(p.relative_to(K8S)))
def test_every_file_a_kustomization_names_exists(directory: Path) -> None:
    kustomization = _kustomization(directory)
    named = [*kustomization.get("resources", []), *kustomization.get("components", []),
             *(p["path"] for p in kustomization.get("patches", []) if "path" in p),
             *(c["valuesFile"] for c in kustomization.get("helmCharts", []) if "valuesFile" in c)]
    assert named or kustomization.get("images")
    for entry in named:
        assert (directory / entry).exists(), f"{directory.name}/kustomization.yaml names {entry}, which is missing"


def test_the_production_overlay_patches_only_what_the_base_has() -> None:
    overlay = K8S / "overlays" / "production"
    base = {(d["kind"], d["metadata"]["name"]): d for d in _resources(overlay)}
    for patch in _kustomization(overlay)["patches"]:
        if "path" in patch:
            for document in _documents(overlay / patch["path"]):
                key = (document["kind"], document["metadata"]["name"])
                assert key in base, f"{patch['path']} patches {key}, which the base does not have"
                if document["kind"] == "Deployment":  # containers are merged by name
                    names = {c["name"] for c in base[key]["spec"]["template"]["spec"]["containers"]}
                    assert {c["name"] for c in document["spec"]["template"]["spec"]["containers"]} <= names
        else:
            target = patch["target"]
            assert (target["kind"], target["name"]) in base
            for operation in yaml.safe_load(patch["patch"]):
                parent, _, leaf = operation["path"].rpartition("/")
                node = base[(target["kind"], target["name"])]
                for part in parent.strip("/").split("/"):
                    node = node[part]
                assert leaf in node, f"{target['name']}: {operation['path']} does not exist in the base"
                assert operation["op"] == "replace"


def test_every_process_has_what_production_needs() -> None:
    objects = _resources(K8S / "base")
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    for process in PROCESSES:
        deployment = by_kind["Deployment"][process]
        assert "replicas" not in deployment["spec"], f"{process}: the HorizontalPodAutoscaler owns the count"
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        # A service is ready when its database answers; the gateway's /readyz aggregates every service
        # (one unready service must not take the entry point out), so its readiness is /healthz.
        assert container["readinessProbe"]["httpGet"]["path"] == ("/healthz" if process == "gateway" else "/readyz")
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        # Every process has a database (the gateway its shared rate-limit counters).
        assert [e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]] == \
            ["lvrong-platform", "lvrong-secrets"]
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert by_kind["Service"][process]["spec"]["selector"] == labels
        assert by_kind["PodDisruptionBudget"][process]["spec"]["selector"]["matchLabels"] == labels
        hpa = by_kind["HorizontalPodAutoscaler"][process]["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": process}
        assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    job = next(d for d in _documents(K8S / "migrate" / "job.yaml") if d["kind"] == "Job")
    commands = {tuple(c["command"]) for c in job["spec"]["template"]["spec"]["containers"]}
    assert commands == {("lvrong-migrate", service) for service in ["gateway", *SERVICES]}
    secret = _documents(K8S / "secret.example.yaml")[0]
    assert "DATABASE_URL" in secret["stringData"]  # an example of the keys, never applied


def test_the_platform_servers_come_from_their_chart_and_operator() -> None:
    platform = _kustomization(K8S / "platform")
    [chart] = platform["helmCharts"]
    assert chart["name"] == "nats" and chart["repo"].startswith("https://nats-io.github.io/")
    values = _documents(K8S / "platform" / "nats-values.yaml")[0]
    assert values["config"]["jetstream"]["enabled"] is True and values["config"]["cluster"]["replicas"] == 3
    postgres = {(d["kind"], d["metadata"]["name"]): d for d in _documents(K8S / "platform" / "postgres.yaml")}
    cluster = postgres[("Cluster", "lvrong-pg")]["spec"]
    assert cluster["instances"] >= 3 and cluster["backup"]["barmanObjectStore"]["destinationPath"]
    databases = {cluster["bootstrap"]["initdb"]["database"]} | {
        d["spec"]["name"] for (kind, _), d in postgres.items() if kind == "Database"}
    assert databases == {f"lvrong_{s}" for s in SERVICES}


def test_compose_runs_the_whole_suite_with_health_checks() -> None:
    compose = _documents(DEPLOY / "compose.yaml")[0]["services"]
    assert set(compose) == {"postgres", "nats", "migrate", *PROCESSES}
    for name in ["postgres", "nats", *PROCESSES]:
        assert compose[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for process in PROCESSES:
        if process != "gateway":
            assert compose[process]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            assert compose[process]["depends_on"]["nats"]["condition"] == "service_healthy"
    assert {f"svc-{s}" for s in SERVICES} == set(compose["gateway"]["depends_on"])
    assert compose["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
