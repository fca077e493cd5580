"""docker-compose.yml: one image in every role, the scheduler only queueing, workers on the broker.

Docker Compose is not on the machines this is built on, so the file is read as YAML (anchors and merge keys
resolved as Compose resolves them) and its roles checked against what lastseen reads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from archive.config import Settings, load_settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
ROLES = ("api", "scheduler", "worker")


def _services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_role_runs_the_one_image_with_the_same_settings() -> None:
    services = _services()
    builds = {(services[role]["build"], services[role]["image"]) for role in ROLES}
    assert builds == {(".", "lastseen:latest")}, "one image, built once, for every role"
    envs = [services[role]["environment"] for role in ROLES]
    assert all(env == envs[0] for env in envs), "every role reads the same database, storage, broker and Redis"
    known = {f"LASTSEEN_{field.name.upper()}" for field in dataclasses.fields(Settings)}
    assert {name for name in envs[0] if name.startswith("LASTSEEN_")} <= known, "only settings lastseen reads"


def test_the_compose_file_points_the_scheduler_and_two_workers_at_the_broker() -> None:
    """Read from the YAML only (no Docker here): the scheduler on RabbitMQ and Redis leading every job, two
    worker replicas, both waiting for a healthy broker, Redis and PostgreSQL."""
    services = _services()
    env = {name: str(value) for name, value in services["scheduler"]["environment"].items()}
    settings = load_settings(environ={name: value for name, value in env.items() if "${" not in value})
    assert settings.broker_url.startswith("amqp://") and "@rabbitmq:5672" in settings.broker_url
    assert settings.redis_url.startswith("redis://redis:6379")
    assert not settings.schedule_jobs, "the scheduler leads every job: with a broker each one only queues"
    assert services["scheduler"]["command"][-1].endswith("scheduler.py")
    worker = services["worker"]
    assert worker["command"][:2] == ["lastseen", "worker"] and worker["deploy"]["replicas"] == 2
    for role in ("scheduler", "worker"):
        needs = services[role]["depends_on"]
        assert needs["rabbitmq"]["condition"] == "service_healthy" and "redis" in needs and "postgres" in needs
    assert "rabbitmq" in services and "redis" in services
    assert "healthcheck" in services["rabbitmq"]
