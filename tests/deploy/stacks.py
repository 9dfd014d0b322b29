"""The stacks the deployment tests run: built, exported and started once per session.

`compose_stack` for `make test-docker`, `swarm_stack` for `make test-swarm`. Registered as a
plugin by tests/conftest.py, so the end-to-end tests' `gateway` fixture can be the compose
stack's gateway (TEST_STACK=compose) instead of one started on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.docker import ComposeProject, SwarmStack, engine_problem, remove_images, run, swarm_state

COMPOSE_PROJECT = "speech-test-docker"
IMAGE_TAG = "test-docker"
SWARM_STACK = "speech-test-swarm"
SWARM_IMAGE_TAG = "test-swarm"
SWARM_REPLICAS = 2


@pytest.fixture(scope="session")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeProject]:
    problem = engine_problem()
    if problem:
        pytest.skip(f"no Docker host: {problem}")
    no_settings = tmp_path_factory.mktemp("compose") / "empty.env"
    no_settings.write_text("")
    # With Prometheus and the blackbox exporter: tests/test_monitoring.py reads what they saw.
    project = ComposeProject(COMPOSE_PROJECT, IMAGE_TAG, no_settings, profiles=("monitoring",))
    project.compose("down", "--volumes", "--remove-orphans")  # what a killed run may have left
    try:
        project.compose("build", timeout=3600)
        # The export runs first (TTS and ASR wait for it), then every health check must pass.
        project.compose("up", "--detach", "--wait", "--wait-timeout", "900", timeout=1000)
        yield project
    finally:
        project.compose("down", "--volumes", "--remove-orphans")
        remove_images(IMAGE_TAG)


@pytest.fixture(scope="session")
def swarm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmStack]:
    """The stack on this engine's swarm (a one-node swarm made for the tests when it is none)."""
    problem = engine_problem()
    if problem:
        pytest.skip(f"no Docker host: {problem}")
    made_a_swarm = swarm_state() == "inactive"
    if made_a_swarm:
        run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"])
    no_settings = tmp_path_factory.mktemp("swarm") / "empty.env"
    no_settings.write_text("")
    stack = SwarmStack(SWARM_STACK, SWARM_IMAGE_TAG, no_settings)
    stack.remove()  # what a killed run may have left
    try:
        stack.build()
        stack.deploy(SWARM_REPLICAS)
        stack.wait_until_serving(SWARM_REPLICAS)
        yield stack
    finally:
        stack.remove()
        remove_images(SWARM_IMAGE_TAG)
        if made_a_swarm:
            run(["docker", "swarm", "leave", "--force"])
