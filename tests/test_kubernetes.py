"""Kubernetes manifests (deploy/kubernetes), rendered and checked without a cluster.

`kubectl kustomize` renders them as `kubectl apply -k` would; every object is then validated
against the Kubernetes API schemas that kubernetes-validate ships (strict: a misspelled or
unknown field fails), and the tests below check what the schemas cannot: probes, resources,
the models volume, and that names and ports agree between the objects. They are not applied
to a cluster here.

`make test` installs kubectl (Debian's kubernetes-client) when there is none; KUBECTL may name
another binary.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from bench.harness import ROOT
from services.asr.models import MANIFEST_NAME as ASR_MANIFEST
from services.tts.voices import MANIFEST_NAME as TTS_MANIFEST

KUSTOMIZATION = ROOT / "deploy" / "kubernetes"
# The newest Kubernetes version whose schemas kubernetes-validate (tests/requirements.txt) ships.
KUBERNETES_VERSION = "1.37.0"
SERVICE_PORTS = {"tts": 8082, "asr": 8081, "realtime": 8084, "orchestrator": 8083, "gateway": 8000}
# The services that load models, and the folder of the models claim each reads: the realtime
# service runs the ASR engines on the ASR models.
MODEL_FOLDERS = {"tts": "tts", "asr": "asr", "realtime": "asr"}
# The Wyoming servers for Home Assistant: probed in their protocol, not scaled by CPU; the ASR
# one runs the ASR engines on the ASR models too.
WYOMING_PORTS = {"wyoming-tts": 10200, "wyoming-asr": 10300}
WYOMING_MODEL_FOLDERS = {"wyoming-asr": "asr"}
MANIFESTS = {"tts": TTS_MANIFEST, "asr": ASR_MANIFEST}

Manifest = dict[str, Any]
# Resource quantities as written here (the schemas accept any string for them).
QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?")
QUANTITY_UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def kubectl() -> str:
    path = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not path:
        pytest.fail(
            "kubectl is needed to render deploy/kubernetes: `make test` installs it (as root), "
            "or `sudo apt-get install kubernetes-client`"
        )
    return path


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(KUSTOMIZATION)], check=False, capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, f"kubectl kustomize failed:\n{rendered.stderr}"
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = find(manifests, kind, name)
    return found


def pod_spec(workload: Manifest) -> Manifest:
    return workload["spec"]["template"]["spec"]


def containers(workload: Manifest, init: bool = True) -> Iterator[Manifest]:
    spec = pod_spec(workload)
    yield from spec["containers"]
    if init:
        yield from spec.get("initContainers", [])


def main_container(deployment: Manifest) -> Manifest:
    (container,) = pod_spec(deployment)["containers"]
    return container


def quantity(value: str | int) -> float:
    match = QUANTITY.fullmatch(str(value))
    assert match, f"not a resource quantity: {value!r}"
    return float(match[1]) * QUANTITY_UNITS[match[2]]


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    return find(manifests, "Deployment") + find(manifests, "Job")


def claim_mounts(workload: Manifest) -> list[tuple[str, Manifest]]:
    """(claim name, volume mount) for every mount of a PersistentVolumeClaim in the pod."""
    claims = {
        volume["name"]: volume["persistentVolumeClaim"]["claimName"]
        for volume in pod_spec(workload).get("volumes", [])
        if "persistentVolumeClaim" in volume
    }
    return [
        (claims[mount["name"]], mount)
        for container in containers(workload)
        for mount in container.get("volumeMounts", [])
        if mount["name"] in claims
    ]


def test_every_object_is_valid_against_the_kubernetes_api_schema(manifests: list[Manifest]) -> None:
    failures = []
    for manifest in manifests:
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{where}: {'.'.join(map(str, error.path))}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{where}: {error.message}")
    assert not failures, "\n".join(failures)


def test_the_schema_check_rejects_a_misspelled_field(manifests: list[Manifest]) -> None:
    deployment = copy.deepcopy(one(manifests, "Deployment", "tts"))
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    main_container(deployment)["readinesProbe"] = main_container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_stack_is_every_object_expected(manifests: list[Manifest]) -> None:
    rendered = {(m["kind"], m["metadata"]["name"]) for m in manifests if m["kind"] != "ConfigMap"}
    assert rendered == {
        ("Namespace", "speech"),
        ("PersistentVolumeClaim", "models"),
        ("Job", "export"),
        *(("Deployment", name) for name in (*SERVICE_PORTS, *WYOMING_PORTS)),
        *(("Service", name) for name in (*SERVICE_PORTS, *WYOMING_PORTS)),
        *(("HorizontalPodAutoscaler", name) for name in MODEL_FOLDERS),
    }
    assert all(m["metadata"].get("namespace") == "speech" for m in manifests if m["kind"] != "Namespace")


def test_every_deployment_has_readiness_and_liveness_probes(manifests: list[Manifest]) -> None:
    for deployment in find(manifests, "Deployment"):
        container = main_container(deployment)
        assert "readinessProbe" in container and "livenessProbe" in container, deployment["metadata"]["name"]


@pytest.mark.parametrize("name", ["tts", "asr", "realtime", "orchestrator"])
def test_service_probes_ask_healthz_on_the_service_port(manifests: list[Manifest], name: str) -> None:
    container = main_container(one(manifests, "Deployment", name))
    probes = ["readinessProbe", "livenessProbe"] + (["startupProbe"] if name in MODEL_FOLDERS else [])
    for probe in probes:
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": SERVICE_PORTS[name]}, probe


@pytest.mark.parametrize(("name", "port"), WYOMING_PORTS.items())
def test_wyoming_probes_speak_the_protocol_on_the_service_port(manifests: list[Manifest], name: str, port: int) -> None:
    container = main_container(one(manifests, "Deployment", name))
    probe = ["python", "-m", "services.wyoming.probe", "--timeout", "2"]  # describe, answered by info
    assert container["readinessProbe"]["exec"]["command"] == probe
    if name in WYOMING_MODEL_FOLDERS:
        assert container["startupProbe"]["exec"]["command"] == probe
    # A Wyoming TTS server whose TTS service is down is unready, not dead.
    assert container["livenessProbe"]["tcpSocket"] == {"port": port}
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert [p["port"] for p in one(manifests, "Service", name)["spec"]["ports"]] == [port]


def test_a_slow_service_does_not_restart_the_gateway(manifests: list[Manifest]) -> None:
    container = main_container(one(manifests, "Deployment", "gateway"))
    assert container["livenessProbe"]["tcpSocket"] == {"port": SERVICE_PORTS["gateway"]}


def test_every_container_has_resource_requests_and_limits(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        for container in containers(workload):
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (container["name"], bound)


def test_every_request_fits_within_its_limit(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        for container in containers(workload):
            requests, limits = container["resources"]["requests"], container["resources"]["limits"]
            for resource in ("cpu", "memory"):
                assert quantity(requests[resource]) <= quantity(limits[resource]), (container["name"], resource)


def test_every_pod_runs_as_the_unprivileged_user(manifests: list[Manifest]) -> None:
    for workload in workloads(manifests):
        context = pod_spec(workload)["securityContext"]
        assert context["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] == 10001
        for container in containers(workload):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, container["name"]
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], container["name"]


@pytest.mark.parametrize("name", sorted({**MODEL_FOLDERS, **WYOMING_MODEL_FOLDERS}))
def test_model_services_read_their_folder_of_the_export_claim(manifests: list[Manifest], name: str) -> None:
    exported = {claim for claim, _ in claim_mounts(one(manifests, "Job", "export"))}
    mounts = claim_mounts(one(manifests, "Deployment", name))
    assert mounts, f"{name} mounts no claim"
    folder = {**MODEL_FOLDERS, **WYOMING_MODEL_FOLDERS}[name]
    for claim, mount in mounts:
        assert claim in exported
        assert mount["readOnly"] is True
        assert (mount["mountPath"], mount["subPath"]) == (f"/models/{folder}", folder)


def test_the_export_job_writes_the_models_claim(manifests: list[Manifest]) -> None:
    ((claim, mount),) = claim_mounts(one(manifests, "Job", "export"))
    assert find(manifests, "PersistentVolumeClaim", claim)
    assert mount["mountPath"] == "/models" and not mount.get("readOnly")


@pytest.mark.parametrize("name", sorted({**MODEL_FOLDERS, **WYOMING_MODEL_FOLDERS}))
def test_model_services_wait_for_the_manifest_the_export_writes(manifests: list[Manifest], name: str) -> None:
    (waiting,) = pod_spec(one(manifests, "Deployment", name))["initContainers"]
    assert waiting["image"] == main_container(one(manifests, "Deployment", name))["image"]
    folder = {**MODEL_FOLDERS, **WYOMING_MODEL_FOLDERS}[name]
    assert f"/models/{folder}/*/{MANIFESTS[folder]}" in " ".join(waiting["command"])


def test_autoscalers_target_the_deployments_that_load_models(manifests: list[Manifest]) -> None:
    targets = set()
    for autoscaler in find(manifests, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert find(manifests, "Deployment", target["name"])
        targets.add(target["name"])
    assert targets == set(MODEL_FOLDERS)


@pytest.mark.parametrize(
    ("name", "variables"),
    [
        (
            "gateway",
            {
                "TTS_SERVICE_URL": "tts",
                "ASR_SERVICE_URL": "asr",
                "REALTIME_SERVICE_URL": "realtime",
                "ORCHESTRATOR_URL": "orchestrator",
            },
        ),
        (
            "orchestrator",
            {
                "TTS_SERVICE_URL": "tts",
                "ASR_SERVICE_URL": "asr",
                "REALTIME_SERVICE_URL": "realtime",
                "WYOMING_TTS_URL": "wyoming-tts",
                "WYOMING_ASR_URL": "wyoming-asr",
            },
        ),
        ("wyoming-tts", {"TTS_SERVICE_URL": "tts"}),
    ],
)
def test_service_urls_name_the_services_and_their_ports(
    manifests: list[Manifest], name: str, variables: dict[str, str]
) -> None:
    env = {item["name"]: item["value"] for item in main_container(one(manifests, "Deployment", name))["env"]}
    for variable, service in variables.items():
        url = urlsplit(env[variable])
        ports = [port["port"] for port in one(manifests, "Service", service)["spec"]["ports"]]
        assert (url.hostname, url.port) == (service, {**SERVICE_PORTS, **WYOMING_PORTS}[service]), variable
        assert url.port in ports, variable


def test_every_service_selects_a_deployment_on_a_declared_port(manifests: list[Manifest]) -> None:
    for service in find(manifests, "Service"):
        selector = service["spec"]["selector"]
        selected = [
            d
            for d in find(manifests, "Deployment")
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        declared = [port for c in containers(selected[0], init=False) for port in c.get("ports", [])]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(target in (p["containerPort"], p.get("name")) for p in declared), service["metadata"]["name"]


def test_every_workload_reads_the_generated_settings(manifests: list[Manifest]) -> None:
    (settings,) = find(manifests, "ConfigMap")
    assert settings["metadata"]["name"].startswith("speech-settings-")
    for workload in workloads(manifests):
        sources = [
            source["configMapRef"]["name"] for source in main_container(workload)["envFrom"] if "configMapRef" in source
        ]
        assert sources == [settings["metadata"]["name"]], workload["metadata"]["name"]
