"""The production templates under deploy/ hang together (Docker cannot run here).

Each file is parsed and checked against what reads it: the Dagster instance
and workspace files against Dagster's own config schemas, the `seamless`
configuration against the code location's config model, and the Compose file
for its services, ports, environment and every file it or its Dockerfile refers
to.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from seamless_sdk.config import QuestDBStoreConfig, parse_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICES = {"postgres", "questdb", "seamless-code", "dagster-webserver", "dagster-daemon"}


def _load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load("compose.yaml")


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def test_compose_runs_the_five_services_on_published_loopback_ports(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    published = {
        name: {p.rsplit(":", 1)[-1] for p in svc.get("ports", [])} for name, svc in services.items()
    }
    assert published["dagster-webserver"] == {"3000"}
    assert published["questdb"] == {"9000", "8812"}
    assert published["postgres"] == {"5432"}
    for svc in services.values():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), port  # nothing listens on every interface
    assert services["seamless-code"]["expose"] == ["4000"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        assert "healthcheck" in svc or "depends_on" in svc


def test_every_dagster_process_shares_one_instance(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = _env(services["postgres"])
    urls = set()
    for name in ("seamless-code", "dagster-webserver", "dagster-daemon"):
        env = _env(services[name])
        assert env["DAGSTER_HOME"] == "/opt/dagster/home"
        urls.add(env["DAGSTER_PG_URL"])
        mounts = [v.split(":")[1] for v in services[name]["volumes"] if v.startswith("./")]
        assert "/opt/dagster/home/dagster.yaml" in mounts
    (url,) = urls
    m = re.fullmatch(r"postgresql\+psycopg2://(\w+):(\$\{[^}]+\})@postgres:5432/(\w+)", url)
    assert m is not None, url
    assert m.group(1) == pg["POSTGRES_USER"] and m.group(3) == pg["POSTGRES_DB"]
    assert m.group(2) == pg["POSTGRES_PASSWORD"]


def test_the_code_server_serves_what_the_workspace_loads(compose: dict[str, Any]) -> None:
    code = compose["services"]["seamless-code"]
    cmd = code["command"]
    assert cmd[:3] == ["dagster", "code-server", "start"]
    opts = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    (entry,) = _load("workspace.grpc.yaml")["load_from"]
    grpc = entry["grpc_server"]
    assert grpc == {
        "host": "seamless-code",
        "port": int(opts["--port"]),
        "location_name": "seamless",
    }
    assert opts["--location-name"] == "seamless" and opts["--host"] == "0.0.0.0"
    assert opts["--module-name"] == "seamless_assets.definitions"
    env = _env(code)
    assert env["SEAMLESS_CONFIG"] in {v.split(":")[1] for v in code["volumes"]}
    assert env["SEAMLESS_QUESTDB_HTTP"] == "http::addr=questdb:9000;"
    assert (
        env["SEAMLESS_QUESTDB_PG"].startswith("postgresql://")
        and "@questdb:8812/" in env["SEAMLESS_QUESTDB_PG"]
    )
    for name in ("dagster-webserver", "dagster-daemon"):
        cmd = compose["services"][name]["command"]
        assert cmd[cmd.index("-w") + 1] == "/opt/dagster/workspace.yaml"


def test_every_referenced_file_exists(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source
            else:
                assert source in compose["volumes"], source
        build = svc.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            dockerfile = context / build["dockerfile"]
            assert dockerfile.is_file()
            for line in dockerfile.read_text(encoding="utf-8").splitlines():
                if line.startswith("COPY "):
                    for src in line.split()[1:-1]:
                        assert (context / src).exists(), src


def test_the_instance_is_postgres_with_one_run_per_partition() -> None:
    from dagster._core.instance.config import dagster_instance_config_schema, validate_config

    raw = _load("dagster.postgres.yaml")
    result = validate_config(dagster_instance_config_schema(), raw)
    assert result.success, result.errors
    assert raw["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    coordinator = raw["run_coordinator"]
    assert coordinator["class"] == "SeamlessRunCoordinator"
    assert coordinator["config"]["tag_concurrency_limits"] == [
        {"key": "seamless/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]


def test_the_workspace_is_valid_for_dagster() -> None:
    from dagster._core.workspace.config_schema import process_workspace_config

    result = process_workspace_config(_load("workspace.grpc.yaml"))
    assert result.success, result.errors


def test_the_production_config_is_one_the_code_location_accepts() -> None:
    raw = _load("seamless.production.yaml")
    config = parse_config(raw, base_dir=DEPLOY)
    # The production back-ends: QuestDB bars, PostgreSQL coordinator, whose
    # database also holds the store's locks and the request table.
    store = config.store_config
    assert isinstance(store, QuestDBStoreConfig)
    assert store.ilp == "http::addr=questdb:9000;" and store.pg.endswith("@questdb:8812/qdb")
    assert config.coordinator is not None and store.lock_dsn == config.coordinator.dsn
    assert "@postgres:5432/" in config.coordinator.dsn
    from seamless_assets.resources import SeamlessResource

    resource = SeamlessResource.from_config(
        dataclasses.replace(config, backfill=config.backfill.model_copy(update={"gx_check": False}))
    )
    assert resource.store_config() == store and resource.coordinator_dsn == config.coordinator.dsn
    assert [iv.name for iv in config.intervals] == ["1m", "1h", "1d"]
    assert config.backfill.partial_ok is False
    # The Compose volume holds every path the config writes to.
    volumes = compose_volume_targets()
    for path in (config.requests, config.reports):
        assert any(str(path).startswith(v + "/") for v in volumes), path


def compose_volume_targets() -> list[str]:
    code = _load("compose.yaml")["services"]["seamless-code"]
    return [v.split(":")[1] for v in code["volumes"] if not v.startswith(".")]
