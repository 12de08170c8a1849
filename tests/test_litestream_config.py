"""Litestream in docker-compose.yml: the sidecar streams the very file certnotify writes.

The compose file and deploy/litestream.yml are read as Compose and Litestream read them:
Compose substitutes ``${VAR:-default}`` from the environment (here: .env.example, or
nothing), Litestream substitutes ``$VAR``/``${VAR}`` in the raw text of its config from
its container's environment (unset: empty), then parses the YAML. Where Docker's compose
plugin is installed, ``docker compose config`` checks the file as well.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
LITESTREAM = ROOT / "deploy" / "litestream.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DEFAULT_CONFIG = "/etc/litestream.yml"  # where litestream looks without -config

# The replica's keys: Compose refuses to run without them (and without CERTNOTIFY_SITE).
KEYS = {"LITESTREAM_ACCESS_KEY_ID": "key-id", "LITESTREAM_SECRET_ACCESS_KEY": "secret"}
# Only the variables Compose needs: everything else takes its default.
REQUIRED_ONLY = {"CERTNOTIFY_SITE": "certnotify.example.com", **KEYS}

_COMPOSE_VAR = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}"
)
_SHELL_VAR = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
)


def compose_interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise KeyError(f"compose refuses to run without {name}: {arg}")
        return value or ""

    return _COMPOSE_VAR.sub(replace, text)


def shell_expand(text: str, env: dict[str, str]) -> str:
    """$VAR and ${VAR}, unset ones empty: Go's os.Expand as Litestream uses it, or sh's."""
    return _SHELL_VAR.sub(lambda m: env.get(m.group("braced") or m.group("plain"), ""), text)


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load(compose_interpolate(COMPOSE.read_text(encoding="utf-8"), env))
    assert isinstance(loaded, dict)
    return loaded


def load_litestream(env: dict[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load(shell_expand(LITESTREAM.read_text(encoding="utf-8"), env))
    assert isinstance(loaded, dict)
    return loaded


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(name): "" if value is None else str(value) for name, value in env.items()}


def command_line(service: dict[str, Any]) -> str:
    parts = service.get("entrypoint") or []
    parts = [parts] if isinstance(parts, str) else list(parts)
    command = service.get("command") or []
    parts += [command] if isinstance(command, str) else list(command)
    return " ".join(" ".join(str(part).split()) for part in parts)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Mount target -> source ("certnotify-data", "./deploy/litestream.yml", ...)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume["target"]] = volume.get("source", "")
        else:
            source, target = str(volume).split(":")[:2]
            found[target] = source
    return found


def dockerfile_env(name: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert found, f"the Dockerfile sets no {name}"
    return found.group(1)


def dockerfile_uid() -> str:
    found = re.search(r"useradd\b.*--uid (\d+)", DOCKERFILE.read_text(encoding="utf-8"))
    assert found, "the Dockerfile creates no user with a fixed uid"
    return found.group(1)


def database(litestream: dict[str, Any]) -> dict[str, Any]:
    dbs = litestream["dbs"]
    assert isinstance(dbs, list)
    assert len(dbs) == 1, "certnotify has one database"
    return dict(dbs[0])


def config_path(service: dict[str, Any]) -> str:
    found = re.search(r"-config[= ](\S+)", command_line(service))
    return found.group(1) if found else DEFAULT_CONFIG


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(REQUIRED_ONLY)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def test_both_files_parse_as_yaml_with_the_expected_services():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    litestream = yaml.safe_load(LITESTREAM.read_text(encoding="utf-8"))
    assert {"certnotify", "caddy", "litestream", "restore", "minio"} <= set(compose["services"])
    assert isinstance(litestream["dbs"], list)
    # Litestream 0.5's shape: one `replica` per database (`replicas:` is the 0.3 list).
    db = database(litestream)
    assert "replica" in db
    assert "replicas" not in db


def test_litestream_watches_the_file_certnotify_writes(services):
    path = database(load_litestream({}))["path"]
    assert environment(services["certnotify"])["CERTNOTIFY_DB"] == path
    assert dockerfile_env("CERTNOTIFY_DB") == path  # `docker run` without compose too
    assert posixpath.isabs(path)


def test_every_service_mounts_the_same_volume_at_the_database_folder(compose, services):
    folder = posixpath.dirname(database(load_litestream({}))["path"])
    volumes = {
        name: mounts(services[name]).get(folder) for name in ("certnotify", "litestream", "restore")
    }
    assert len(set(volumes.values())) == 1, f"different volumes at {folder}: {volumes}"
    volume = volumes["certnotify"]
    assert volume in compose["volumes"], f"{volume!r} is not a named volume"


def test_the_sidecar_replicates_with_the_mounted_config(services):
    sidecar = services["litestream"]
    assert re.fullmatch(r"litestream/litestream:\d+\.\d+(\.\d+)?", sidecar["image"])
    command = command_line(sidecar).split()
    assert command[0] == "replicate"
    assert mounts(sidecar)[config_path(sidecar)] == "./deploy/litestream.yml"
    assert sidecar["restart"] == "unless-stopped"
    # Same user as certnotify, so files either one creates stay writable by the other.
    assert str(sidecar["user"]).split(":")[0] == dockerfile_uid()


def test_the_replica_defaults_to_the_local_minio(services):
    sidecar_env = environment(services["litestream"])
    replica = database(load_litestream(sidecar_env))["replica"]
    assert replica["type"] == "s3"

    endpoint = urlsplit(replica["endpoint"])
    assert endpoint.hostname in services, f"{endpoint.hostname} is not a compose service"
    minio = services[endpoint.hostname]
    assert minio["image"].startswith("minio/minio")
    server = command_line(minio)
    listen = re.search(r"--address[= ]\S*:(\d+)", server)
    assert endpoint.port == int(listen.group(1) if listen else 9000)  # MinIO's default port

    # The bucket Litestream writes to is the one created at start, with the same keys.
    init = services["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    init_env = environment(init)
    created = shell_expand(command_line(init), init_env)
    assert f"mc mb --ignore-existing local/{replica['bucket']}" in created.replace('"', "")
    assert environment(minio)["MINIO_ROOT_USER"] == sidecar_env["LITESTREAM_ACCESS_KEY_ID"]
    assert environment(minio)["MINIO_ROOT_PASSWORD"] == sidecar_env["LITESTREAM_SECRET_ACCESS_KEY"]
    assert replica["bucket"]
    assert replica["path"]


def test_an_empty_endpoint_means_aws_s3():
    services = load_compose({**REQUIRED_ONLY, "LITESTREAM_ENDPOINT": ""})["services"]
    replica = database(load_litestream(environment(services["litestream"])))["replica"]
    assert replica["endpoint"] is None  # `endpoint:` with nothing after it


def test_no_credentials_in_either_file():
    litestream_text = LITESTREAM.read_text(encoding="utf-8")
    assert "access-key-id" not in litestream_text
    assert "secret-access-key" not in litestream_text
    # The keys reach the containers only from the environment (.env), never as literals.
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for name in ("litestream", "restore"):
        env = environment(raw[name])
        for key in KEYS:
            assert re.fullmatch(rf"\$\{{{key}:\?[^}}]+\}}", env[key]), (name, key)
    with pytest.raises(KeyError, match="LITESTREAM_SECRET_ACCESS_KEY"):
        load_compose({"CERTNOTIFY_SITE": "localhost", "LITESTREAM_ACCESS_KEY_ID": "key-id"})


def test_restore_is_a_one_shot_that_never_overwrites(services):
    restore = services["restore"]
    assert restore["profiles"] == ["restore"]  # runs only when named
    assert "restart" not in restore
    line = command_line(restore)
    path = database(load_litestream({}))["path"]
    restore_call = re.search(r"litestream restore (.*?)(?:&&|;|$)", line)
    assert restore_call, line
    arguments = restore_call.group(1).split()
    assert "-if-replica-exists" in arguments  # an empty replica: a new install, not an error
    assert "-if-db-not-exists" in arguments  # an existing database is never replaced
    assert arguments[-1] == path
    assert mounts(restore)[config_path(restore)] == "./deploy/litestream.yml"
    assert environment(restore) == environment(services["litestream"])
    # The restored files end up owned by certnotify's user.
    assert f"chown -R {dockerfile_uid()}:{dockerfile_uid()} {posixpath.dirname(path)}" in line


def test_minio_is_the_local_example_only(services):
    for name in ("minio", "minio-init"):
        assert services[name]["profiles"] == ["minio"]
        assert "ports" not in services[name]
    assert "profiles" not in services["litestream"]  # replication always runs
    example = env_file(ENV_EXAMPLE)
    assert example["COMPOSE_PROFILES"] == "minio"
    assert set(REQUIRED_ONLY) <= set(example)
    services = load_compose(example)["services"]
    replica = database(load_litestream(environment(services["litestream"])))["replica"]
    assert urlsplit(replica["endpoint"]).hostname == "minio"


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin), else the standalone ``docker-compose`` (Debian's
    package, which ``.ci/run`` installs), else None."""
    docker = shutil.which("docker")
    if docker is not None:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_docker_compose_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (apt-get install "
            "docker-compose): only the YAML checks above ran"
        )
    checked = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, **env_file(ENV_EXAMPLE)},
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    # Without the required variables, compose refuses (no replica keys, no site name).
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("LITESTREAM_", "CERTNOTIFY_"))}
    refused = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=bare,
    )  # fmt: skip
    assert refused.returncode != 0
