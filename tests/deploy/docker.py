"""Drive the Docker engine and a compose project of the tests' own, apart from any user's stack.

A project here has its own name (so its own containers, network and volumes), its own host
ports and its own image tag, and reads no `.env`: what a user has configured or started is
never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.harness import ROOT, free_port
from services.common.health import is_healthy

# What the engine and the CLI need from the caller's environment, and whether the PyTorch index
# can be reached (the Makefile says so); nothing else is passed on.
PASSED_ON = (
    "PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "TMPDIR",
    "TORCH_INDEX_URL",
)  # fmt: skip
RUNNING_SERVICES = ("tts", "asr", "realtime", "wyoming-tts", "wyoming-asr", "orchestrator", "gateway")
# The services of the `monitoring` profile (docker-compose.override.yml).
MONITORING_SERVICES = ("prometheus", "blackbox")


def run(command: list[str], timeout: float = 600, env: dict[str, str] | None = None) -> str:
    """Run a command; its output, or an error that shows what it printed."""
    try:
        done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"{' '.join(command)} took over {timeout:.0f} s:\n{expired.output}") from None
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def engine_problem() -> str | None:
    """Why no Docker engine and Compose v2 can be used here, or None when they can."""
    if not shutil.which("docker"):
        return "no docker command (a Docker host: ../shared/tools/docker-host, or Docker's own packages)"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], check=False, capture_output=True, text=True
    )
    if info.returncode != 0:
        return f"no Docker engine answers: {(info.stderr.strip().splitlines() or ['docker info failed'])[-1]}"
    if subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode != 0:
        return "Docker Compose v2 (`docker compose`) is not installed"
    return None


def stack_environment(image_tag: str, **settings: int) -> dict[str, str]:
    """The environment a compose or stack command of the tests runs in: its image tag and ports."""
    passed_on = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    return {**passed_on, **{name: str(value) for name, value in settings.items()}, "IMAGE_TAG": image_tag}


def remove_images(tag: str) -> None:
    """The project's images with this tag (the build cache stays, so a rebuild is quick).

    Removed by name, not by id: an image built on another (realtime on asr) keeps its parent's
    id alive, and docker refuses to delete an id with children; a name is untagged, and the
    layers go with the last image that uses them."""
    listing = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference=*/*:{tag}"])
    names = sorted(set(listing.split()))
    if names:
        run(["docker", "rmi", *names], timeout=300)


def container_health(container_id: str) -> str:
    state = json.loads(run(["docker", "inspect", "--format", "{{json .State}}", container_id]))
    return state["Health"]["Status"] if state.get("Health") else state["Status"]


@dataclass
class ComposeProject:
    """The project's compose files under a name, host ports and image tag of its own.

    `env_file` is an empty file given in place of the user's `.env`; `profiles` are the compose
    profiles every command of the project enables (`monitoring`: Prometheus and the blackbox
    exporter).
    """

    name: str
    image_tag: str
    env_file: Path
    profiles: tuple[str, ...] = ()
    ports: dict[str, int] = field(
        default_factory=lambda: {
            name: free_port()
            for name in (
                "GATEWAY_PORT",
                "TTS_PORT",
                "ASR_PORT",
                "REALTIME_PORT",
                "WYOMING_TTS_PORT",
                "WYOMING_ASR_PORT",
                "PROMETHEUS_PORT",
            )
        }
    )

    @property
    def environment(self) -> dict[str, str]:
        return stack_environment(self.image_tag, **self.ports)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    @property
    def prometheus_url(self) -> str:
        """Prometheus, published on loopback (with the `monitoring` profile)."""
        return f"http://127.0.0.1:{self.ports['PROMETHEUS_PORT']}"

    @property
    def running_services(self) -> tuple[str, ...]:
        """The services that keep running once the stack is up (the export is a job that exits)."""
        return RUNNING_SERVICES + (MONITORING_SERVICES if "monitoring" in self.profiles else ())

    def compose(self, *args: str, timeout: float = 600, version: int = 2) -> str:
        """`docker compose` (v2) or `docker-compose` (1.29) on this project, its profiles enabled.

        Run from the repository root with no -f, so both read docker-compose.yml and
        docker-compose.override.yml, as they do for a user."""
        program = ["docker", "compose"] if version == 2 else ["docker-compose"]
        command = [*program, "--project-name", self.name, "--env-file", str(self.env_file)]
        for profile in self.profiles:
            command += ["--profile", profile]
        return run([*command, *args], timeout=timeout, env=self.environment)

    def container(self, service: str) -> str:
        """The id of the service's container (running or exited)."""
        ids = run(
            [
                "docker", "ps", "--all", "--quiet",
                "--filter", f"label=com.docker.compose.project={self.name}",
                "--filter", f"label=com.docker.compose.service={service}",
            ]
        ).split()  # fmt: skip
        assert len(ids) == 1, f"{service}: expected one container, found {ids}"
        return ids[0]

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks of this project that still exist."""
        label = f"label=com.docker.compose.project={self.name}"
        return {
            kind: run(
                ["docker", kind, "ls", "--quiet", "--filter", label] + (["--all"] if kind == "container" else [])
            ).split()
            for kind in ("container", "volume", "network")
        }

    def wait_until_healthy(self, timeout: float = 300) -> None:
        """Every running service healthy and the gateway answering: what `up --wait` gives v2."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {service: container_health(self.container(service)) for service in self.running_services}
            if all(state == "healthy" for state in states.values()) and is_healthy(f"{self.gateway_url}/healthz"):
                return
            time.sleep(2)
        raise AssertionError(f"not healthy after {timeout:.0f} s: {states}")

    def speak(self, text: str) -> bytes:
        """PCM of `text` through the gateway."""
        response = requests.post(f"{self.gateway_url}/api/tts", json={"text": text}, timeout=60)
        response.raise_for_status()
        return response.content


def swarm_state() -> str:
    """This engine's swarm state: "active" when it is a node of a swarm, "inactive" when not."""
    return run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"]).strip()


@dataclass
class Replica:
    task: str
    container: str
    address: str  # on the stack's network


@dataclass
class SwarmStack:
    """docker-compose.yml with deploy/swarm/docker-stack.yml, deployed as a stack of the tests' own."""

    name: str
    image_tag: str
    env_file: Path
    gateway_port: int = field(default_factory=free_port)
    wyoming_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))

    @property
    def environment(self) -> dict[str, str]:
        tts_port, asr_port = self.wyoming_ports
        return stack_environment(
            self.image_tag, GATEWAY_PORT=self.gateway_port, WYOMING_TTS_PORT=tts_port, WYOMING_ASR_PORT=asr_port
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def build(self) -> None:
        """The images, as compose builds them, under the stack's tag."""
        ComposeProject(self.name, self.image_tag, self.env_file).compose("build", timeout=3600)

    def deploy(self, replicas: int) -> None:
        files = ["-c", "docker-compose.yml", "-c", "deploy/swarm/docker-stack.yml"]
        command = ["docker", "stack", "deploy", "--detach=false", "--resolve-image", "never", *files, self.name]
        run(command, timeout=900, env={**self.environment, "REPLICAS": str(replicas)})

    def remove(self) -> None:
        """The stack, then its volumes, once Swarm has removed every container using them."""
        run(["docker", "stack", "rm", self.name], timeout=120)
        label = f"label=com.docker.stack.namespace={self.name}"
        deadline = time.monotonic() + 180
        while run(["docker", "ps", "--quiet", "--filter", label]).split():
            if time.monotonic() > deadline:
                raise AssertionError(f"the containers of {self.name} still run 180 s after `docker stack rm`")
            time.sleep(1)
        # Swarm leaves the exited containers of a job's tasks behind when its service is removed.
        exited = run(["docker", "ps", "--all", "--quiet", "--filter", label]).split()
        if exited:
            run(["docker", "rm", "--force", *exited])
        volumes = run(["docker", "volume", "ls", "--quiet", "--filter", label]).split()
        if volumes:
            run(["docker", "volume", "rm", *volumes], timeout=120)

    def replicas(self, service: str) -> list[Replica]:
        """The running tasks of a service that pass their health check."""
        service_name = f"{self.name}_{service}"
        tasks = run(["docker", "service", "ps", service_name, "--filter", "desired-state=running", "--quiet"]).split()
        running = []
        for task in tasks:
            details = json.loads(run(["docker", "inspect", "--format", "{{json .}}", task]))
            status = details["Status"]
            container = (status.get("ContainerStatus") or {}).get("ContainerID", "")
            if status["State"] != "running" or not container or container_health(container) != "healthy":
                continue
            addresses = [
                address.split("/")[0]
                for attachment in details.get("NetworksAttachments", [])
                if attachment["Network"]["Spec"]["Name"] == f"{self.name}_speech"
                for address in attachment["Addresses"]
            ]
            running.append(Replica(task, container, addresses[0]))
        return running

    def wait_until_serving(self, replicas: int, timeout: float = 600) -> None:
        """`replicas` healthy replicas of TTS and ASR, and the gateway answering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = {service: len(self.replicas(service)) for service in ("tts", "asr")}
            if all(count == replicas for count in counts.values()) and is_healthy(f"{self.gateway_url}/healthz"):
                return
            time.sleep(2)
        raise AssertionError(f"not serving {replicas} replicas after {timeout:.0f} s: {counts}")

    def gateway_access_log(self) -> str:
        label = f"label=com.docker.swarm.service.name={self.name}_gateway"
        gateway = run(["docker", "ps", "--quiet", "--filter", label]).split()[0]
        return run(["docker", "exec", gateway, "cat", "/logs/gateway.access.log"])
