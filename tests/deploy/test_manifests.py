"""The deployment files, checked offline: every YAML file under deploy/ passes yamllint; every
Kubernetes manifest validates against the Kubernetes API schemas shipped in the
``kubernetes-validate`` package; every file a kustomization names exists and every patch hits a
resource of its base; each service has what production needs (probes, resource requests,
Service, PodDisruptionBudget, HorizontalPodAutoscaler, a migration container); the compose file
runs the whole suite with health checks; and both hold the production profile's invariants (read-only
root filesystems, exactly the Secrets each process reads mounted read-only where it reads them, no
development issuer)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from kit.audit_anchor import AUDITED_SERVICES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.31.0"  # the oldest version production clusters run; newer ones accept these too
PROCESSES = ["gateway", "svc-matters", "svc-prequal", "svc-licences", "svc-helpdesk", "svc-knowledge", "svc-notifications", "svc-booking"]
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


def test_nats_runs_with_the_generated_authorization_and_each_service_mounts_only_its_own_seeds() -> None:
    compose = _documents(DEPLOY / "compose.yaml")[0]["services"]
    assert compose["nats"]["command"][:2] == ["-c", "/credentials/authorization.conf"]
    assert any(v.endswith("/nats/authorization.conf:/credentials/authorization.conf:ro") for v in compose["nats"]["volumes"])
    for service in SERVICES:
        seeds = {v.rsplit(":", 2)[1] for v in compose[f"svc-{service}"]["volumes"] if "/run/secrets/nats/" in v}
        assert seeds == {f"/run/secrets/nats/{service}.nk", f"/run/secrets/nats/ops-{service}.nk"}, service
    values = yaml.safe_load((K8S / "platform" / "nats-values.yaml").read_text(encoding="utf-8"))
    assert values["config"]["merge"]["00$include"] == "auth/authorization.conf"
    config = {d["metadata"]["name"]: d for d in _resources(K8S / "base") if d["kind"] == "ConfigMap"}
    directory = config["lvrong-platform"]["data"]["NATS_CREDENTIALS_DIR"]
    for service in SERVICES:
        deployment = next(d for d in _documents(K8S / "base" / f"svc-{service}.yaml") if d["kind"] == "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "nats-credentials"]
        assert volume["secret"]["secretName"] == "lvrong-nats"
        assert {i["key"] for i in volume["secret"]["items"]} == {f"{service}.nk", f"ops-{service}.nk"}
        [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "nats-credentials"]
        assert mount["mountPath"] == directory and mount["readOnly"] is True


# The production profile (deploy/README.md "Secrets"): which process mounts which Secret, and where.
DATA_PROTECTION_USERS = {"svc-matters", "svc-prequal", "svc-licences", "svc-helpdesk", "svc-notifications", "svc-booking"}
# Every service keeps an audit log (kit.audit) and talks to NATS as itself; the gateway does neither.
AUDITED = {f"svc-{s}" for s in SERVICES}
SECRET_DIRECTORIES = {"lvrong-data-protection": "DATA_PROTECTION_KEY_DIR", "lvrong-licence-keys": "LICENCES_KEY_DIR",
                      "lvrong-nats": "NATS_CREDENTIALS_DIR", "lvrong-audit-chain": "AUDIT_CHAIN_KEY_DIR",
                      "lvrong-audit-anchor": "AUDIT_ANCHOR_KEY_DIR"}
EVERY_SERVICE_SECRETS = {"lvrong-nats", "lvrong-audit-chain", "lvrong-audit-anchor"}
LICENCE_KEY_NAME = re.compile(r"^\d{8}T\d{6}Z-[A-Za-z0-9_.-]+\.pem$")  # licences.service.keys: activation time first


def _production_settings() -> dict[str, str]:
    """The ConfigMap as the production overlay leaves it (its strategic-merge patch adds keys)."""
    base = next(d for d in _resources(K8S / "base") if d["kind"] == "ConfigMap")["data"]
    return {**base, **_documents(K8S / "overlays" / "production" / "platform-settings.yaml")[0]["data"]}


def _pods() -> dict[str, dict[str, Any]]:
    pods = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in _resources(K8S / "base") if d["kind"] == "Deployment"}
    job = next(d for d in _documents(K8S / "migrate" / "job.yaml") if d["kind"] == "Job")
    cron_jobs = {d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                 for d in _resources(K8S / "base") if d["kind"] == "CronJob"}
    return {**pods, **cron_jobs, "lvrong-migrate": job["spec"]["template"]["spec"]}


def test_every_audit_trail_is_verified_daily_by_a_cron_job() -> None:
    [cron_job] = [d for d in _resources(K8S / "base") if d["kind"] == "CronJob"]
    spec = cron_job["spec"]
    minute, hour, day, month, weekday = spec["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*")  # once a day
    assert spec["timeZone"] == "Asia/Shanghai" and spec["concurrencyPolicy"] == "Forbid"
    assert spec["failedJobsHistoryLimit"] >= 1  # a failed run is the alarm: it stays to be read
    [container] = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    # Naming no service verifies every audited one (kit.audit_anchor.AUDITED_SERVICES): a new service cannot be left out.
    assert container["command"] == ["lvrong-audit-verify"]
    assert set(AUDITED_SERVICES) == set(SERVICES)
    assert [e.get("configMapRef", e.get("secretRef"))["name"] for e in container["envFrom"]] == \
        ["lvrong-platform", "lvrong-secrets"]


def test_production_runs_the_production_profile_without_the_development_issuer() -> None:
    settings = _production_settings()
    assert settings["LVRONG_PROFILE"] == "production"
    assert settings["GATEWAY_DEV_ISSUER_ENABLED"] == "false"
    assert not {"GATEWAY_DEV_ISSUER_KEY_DIR", "DATA_PROTECTION_KEYS", "DATA_PROTECTION_ALLOW_DEV_KEYS"} & set(settings)
    assert settings["AUTH_JWKS_URL"].startswith("https://") and settings["AUTH_ISSUER"].startswith("https://")
    for name, pod in _pods().items():
        for container in pod["containers"]:
            assert not any(e["name"].startswith(("GATEWAY_DEV_ISSUER", "LVRONG_PROFILE", "DATA_PROTECTION_KEYS"))
                           for e in container.get("env", [])), f"{name}/{container['name']} overrides the profile"


def test_every_pod_has_a_read_only_root_and_only_the_secrets_and_paths_it_needs() -> None:
    settings = _production_settings()
    for name, pod in _pods().items():
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            secrets = set()
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                assert set(volume) <= {"name", "secret", "emptyDir"}, f"{where}: {volume}"  # no hostPath, no claim
                if "emptyDir" in volume:  # the one writable path: svc-matters' upload spool
                    assert (name, mount["mountPath"]) == ("svc-matters", "/tmp"), where
                    continue
                secret = volume["secret"]["secretName"]
                secrets.add(secret)
                assert secret in SECRET_DIRECTORIES, f"{where}: add {secret} to SECRET_DIRECTORIES with its setting"
                assert mount["readOnly"] is True and mount["mountPath"] == settings[SECRET_DIRECTORIES[secret]], where
                assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 10001, where
            if name == "lvrong-migrate":  # the migrations that encrypt stored personal data
                expected = {"lvrong-data-protection"} if container["name"] in ("matters", "prequal") else set()
            elif name == "lvrong-audit-verify":  # reads the chains and checkpoints: their keys, nothing else
                expected = {"lvrong-audit-chain", "lvrong-audit-anchor"}
            else:
                expected = ({"lvrong-data-protection"} if name in DATA_PROTECTION_USERS else set()) | (
                    {"lvrong-licence-keys"} if name == "svc-licences" else set()) | (
                    EVERY_SERVICE_SECRETS if name in AUDITED else set())
            assert secrets == expected, where


def test_the_example_secrets_show_every_file_the_profile_reads() -> None:
    examples = {d["metadata"]["name"]: d["stringData"] for d in _documents(K8S / "secret.example.yaml")}
    assert set(examples) == {"lvrong-secrets", *SECRET_DIRECTORIES}
    keyring = examples["lvrong-data-protection"]
    assert {"active-key-id", "lookup-key", f"{keyring['active-key-id']}.key"} == set(keyring)
    assert all(LICENCE_KEY_NAME.match(name) and "PRIVATE KEY" in pem for name, pem in examples["lvrong-licence-keys"].items())
    assert examples["lvrong-licence-keys"]
    assert {f"{i}.nk" for s in SERVICES for i in (s, f"ops-{s}")} == set(examples["lvrong-nats"])  # no admin.nk
    assert all(name.endswith(".key") for name in examples["lvrong-audit-chain"]) and examples["lvrong-audit-chain"]
    assert all(name.endswith(".pem") and "PRIVATE KEY" in pem for name, pem in examples["lvrong-audit-anchor"].items())


def test_compose_runs_the_production_profile_read_only() -> None:
    document = _documents(DEPLOY / "compose.yaml")[0]
    services = document["services"]
    for name in ["migrate", *PROCESSES]:
        env = services[name]["environment"]
        assert env["LVRONG_PROFILE"] == "production" and "GATEWAY_DEV_ISSUER_ENABLED" not in env, name
        assert env["AUTH_JWKS_URL"].startswith("${AUTH_JWKS_URL:?"), f"{name}: no default identity platform"
        assert services[name]["read_only"] is True, name
        assert services[name].get("tmpfs", []) == (["/tmp"] if name == "svc-matters" else []), name
        mounts = {m.rsplit(":", 2)[1]: m.rsplit(":", 1)[1] for m in services[name].get("volumes", [])}
        assert set(mounts.values()) <= {"ro"}, f"{name} mounts something writable: {mounts}"
        # The NATS seeds are checked file by file in the NATS test: here, the directory they are in.
        directories = {str(Path(m).parent) if m.endswith(".nk") else m for m in mounts}
        expected = ({env["DATA_PROTECTION_KEY_DIR"]} if name in DATA_PROTECTION_USERS | {"migrate"} else set()) | (
            {env["LICENCES_KEY_DIR"]} if name == "svc-licences" else set()) | (
            {env["NATS_CREDENTIALS_DIR"], env["AUDIT_CHAIN_KEY_DIR"], env["AUDIT_ANCHOR_KEY_DIR"]}
            if name in AUDITED else set())
        assert directories == expected, name
    assert set(document["volumes"]) == {"postgres-data", "nats-data"}


def test_the_gateway_serves_the_pages_with_the_identity_platforms_login() -> None:
    """The image carries the built pages; Kubernetes and compose serve them and log people in at the
    identity platform (a gateway serving them with the development password login refuses to start)."""
    from gateway.settings import Settings

    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY --from=web /web/dist /app/web" in dockerfile and "lvrong-openapi" in dockerfile
    settings = _production_settings()
    assert settings["GATEWAY_WEB_ROOT"] == "/app/web" and settings["GATEWAY_WEB_LOGIN"] == "oidc"
    gateway_settings = {k.removeprefix("GATEWAY_").lower(): v for k, v in settings.items()
                        if k.startswith("GATEWAY_WEB_")}
    assert not [p for p in Settings(**gateway_settings).production_problems() if "WEB" in p]
    assert [p for p in Settings(**{**gateway_settings, "web_login": "password"}).production_problems() if "WEB_LOGIN" in p]
    compose = _documents(DEPLOY / "compose.yaml")[0]["services"]["gateway"]["environment"]
    assert compose["GATEWAY_WEB_ROOT"] == "/app/web" and compose["GATEWAY_WEB_LOGIN"] == "oidc"
    assert compose["GATEWAY_WEB_OIDC_TOKEN_ENDPOINT"].startswith("${WEB_OIDC_TOKEN_ENDPOINT:?")
