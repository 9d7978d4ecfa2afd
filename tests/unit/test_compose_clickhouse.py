"""compose.kafka.yml's ClickHouse cluster cannot run here (no Docker engine, no ClickHouse
server or Keeper), so check what its pieces say to each other: the compose services,
the XML files they mount from deploy/clickhouse/, the environment the file's header
tells a user to set, and the DDL proofstream's own store issues with that environment.

The layout is 1 shard x 2 replicas (compose.kafka.yml says why); the tests read the
shard and replica lists from remote_servers rather than hard-coding the counts where
the check does not depend on them."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from proofstream.settings import Settings
from sinks.facts import store as facts_store
from sinks.facts.settings import ClickHouseSettings
from sinks.facts.store import ClickHouseStore
from sinks.facts.views import TABLE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.kafka.yml"
DEPLOY = ROOT / "deploy"
SERVERS = ("clickhouse-1", "clickhouse-2")
KEEPER = "clickhouse-keeper"
SERVER_CONFIG_D = "/etc/clickhouse-server/config.d"
HTTP_PORT = 8123  # the server's HTTP interface, what proofstream's http:// DSN speaks


# --- reading the files -------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> file in the repository, for the service's ``./…`` volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def _server_xml(compose: dict[str, Any], server: str, name: str) -> ET.Element:
    """The root of the file the compose mounts as ``config.d/<name>`` into ``server``."""
    mounts = _bind_mounts(compose["services"][server])
    path = mounts.get(f"{SERVER_CONFIG_D}/{name}")
    assert path is not None, f"{server} mounts no {SERVER_CONFIG_D}/{name}"
    return ET.parse(path).getroot()


def _keeper_xml(compose: dict[str, Any]) -> ET.Element:
    """The Keeper's configuration: the file mounted where its KEEPER_CONFIG points."""
    service = compose["services"][KEEPER]
    path = _bind_mounts(service).get(service["environment"]["KEEPER_CONFIG"])
    assert path is not None, "the keeper's KEEPER_CONFIG names no mounted file"
    return ET.parse(path).getroot()


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    assert found is not None and found.text, f"<{path}> missing"
    return found.text.strip()


def _cluster(root: ET.Element) -> tuple[str, list[list[tuple[str, int]]], ET.Element]:
    """(name, shards as lists of (host, port), the cluster element) of the one cluster."""
    remote = root.find("remote_servers")
    assert remote is not None, "no remote_servers"
    clusters = list(remote)
    assert len(clusters) == 1, [c.tag for c in clusters]
    cluster = clusters[0]
    shards = [
        [(_text(r, "host"), int(_text(r, "port"))) for r in shard.findall("replica")]
        for shard in cluster.findall("shard")
    ]
    return cluster.tag, shards, cluster


def _macros(compose: dict[str, Any], server: str) -> dict[str, str]:
    macros = _server_xml(compose, server, "macros.xml").find("macros")
    assert macros is not None, f"{server}: no <macros>"
    return {m.tag: (m.text or "").strip() for m in macros}


def _documented_env() -> dict[str, str]:
    """``PROOFSTREAM_*=value`` from the compose file's header comment: what it tells a
    user to set."""
    env = {}
    for line in COMPOSE.read_text().splitlines():
        if not line.startswith("#"):
            break
        for name, value in re.findall(r"\b(PROOFSTREAM_\w+)=(\S+)", line):
            env[name] = value
    return env


def _published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of ``127.0.0.1:host:container`` entries."""
    out = {}
    for port in service.get("ports", []):
        *_, host, container = str(port).split(":")
        out[int(container)] = int(host)
    return out


# --- the compose services -------------------------------------------------------------


def test_clickhouse_services_run_one_pinned_version(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {name: services[name]["image"].rpartition(":") for name in (KEEPER, *SERVERS)}
    assert images[KEEPER][0] == "clickhouse/clickhouse-keeper"
    assert all(images[s][0] == "clickhouse/clickhouse-server" for s in SERVERS)
    # Keeper and server from one release: they share the coordination protocol code
    assert len({tag for _, _, tag in images.values()}) == 1, images
    for name in (KEEPER, *SERVERS):
        # remote_servers, Keeper's raft_configuration and interserver replication all
        # address the nodes by these names; Docker's default hostname is the container id
        assert services[name]["hostname"] == name


def test_cluster_is_one_shard_of_two_replicas_on_the_compose_servers(
    compose: dict[str, Any],
) -> None:
    for server in SERVERS:
        root = _server_xml(compose, server, "cluster.xml")
        _, shards, cluster = _cluster(root)
        native_port = int(_text(root, "tcp_port"))
        assert shards == [[(s, native_port) for s in SERVERS]], shards
        assert native_port == 9000
        # Replicated tables: the Distributed table writes one replica, Keeper copies it
        assert [_text(s, "internal_replication") for s in cluster.findall("shard")] == ["true"]
        # the stock "default" test cluster would stay beside ours without replace
        remote = root.find("remote_servers")
        assert remote is not None and remote.get("replace")


def test_macros_put_each_node_in_its_shard_with_its_own_replica(
    compose: dict[str, Any],
) -> None:
    _, shards, _ = _cluster(_server_xml(compose, SERVERS[0], "cluster.xml"))
    shard_of = {host: index for index, shard in enumerate(shards) for host, _ in shard}
    macros = {server: _macros(compose, server) for server in SERVERS}
    assert set(shard_of) == set(SERVERS)
    for a in SERVERS:
        for b in SERVERS:
            # same {shard} exactly when remote_servers puts the nodes in the same shard
            same_shard = shard_of[a] == shard_of[b]
            assert (macros[a]["shard"] == macros[b]["shard"]) == same_shard, (a, b)
    replicas = [macros[s]["replica"] for s in SERVERS]
    assert all(replicas) and len(set(replicas)) == len(SERVERS), replicas


def test_servers_reach_the_keeper_service(compose: dict[str, Any]) -> None:
    keeper = _keeper_xml(compose)
    client_port = int(_text(keeper, "keeper_server/tcp_port"))
    server_id = _text(keeper, "keeper_server/server_id")
    members = keeper.findall("keeper_server/raft_configuration/server")
    raft = {_text(m, "id"): (_text(m, "hostname"), int(_text(m, "port"))) for m in members}
    assert set(raft) == {server_id}
    assert raft[server_id][0] == compose["services"][KEEPER]["hostname"]
    assert raft[server_id][1] != client_port  # Raft and client traffic are two listeners
    for server in SERVERS:
        nodes = _server_xml(compose, server, "cluster.xml").findall("zookeeper/node")
        assert [(_text(n, "host"), int(_text(n, "port"))) for n in nodes] == [(KEEPER, client_port)]
        assert KEEPER in compose["services"][server]["depends_on"]


def test_every_mounted_file_exists_and_every_deploy_file_is_mounted(
    compose: dict[str, Any],
) -> None:
    mounted: set[Path] = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target, *options = str(volume).split(":")
            if not source.startswith("./"):
                continue
            path = ROOT / source
            assert path.is_file(), f"{name} mounts {source}, which is not in the repository"
            assert options == ["ro"], f"{name}: {target} should be read-only"
            ET.parse(path)  # well-formed, or the server refuses to start
            mounted.add(path)
    shipped = {p for p in DEPLOY.rglob("*") if p.is_file()}
    assert shipped == mounted, f"not mounted: {sorted(map(str, shipped - mounted))}"


# --- secrets and exposure ---------------------------------------------------------------


def test_passwords_and_the_cluster_secret_come_from_secret_files(
    compose: dict[str, Any],
) -> None:
    declared = compose["secrets"]
    for name, secret in declared.items():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/"), name
    for server in SERVERS:
        service = compose["services"][server]
        env = service["environment"]
        assert "CLICKHOUSE_PASSWORD" not in env
        mounted = {f"/run/secrets/{s}" for s in service["secrets"]}
        assert set(service["secrets"]) <= set(declared)
        assert env["CLICKHOUSE_PASSWORD_FILE"] in mounted
        # every variable the config reads (from_env) is exported by the entrypoint from
        # a secret file the service mounts
        script = "\n".join(service["entrypoint"])
        root = _server_xml(compose, server, "cluster.xml")
        from_env = {e.get("from_env") for e in root.iter() if e.get("from_env")}
        assert from_env == {"CLICKHOUSE_CLUSTER_SECRET"}
        for var in from_env:
            source = re.search(rf'{var}="\$\$\(cat (\S+)\)"', script)
            assert source and source.group(1) in mounted, var
            assert f"export {var}" in script and f'test -n "$${var}"' in script
        assert script.rstrip().endswith("exec /entrypoint.sh")  # the image's own
    for path in DEPLOY.rglob("*.xml"):
        for element in ET.parse(path).getroot().iter():
            if element.tag in ("password", "secret", "password_sha256_hex"):
                assert not (element.text or "").strip(), f"{path}: a literal <{element.tag}>"


def test_only_http_is_published_and_unused_protocols_are_off(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert not services[KEEPER].get("ports")
    hosts = [_published(services[s]) for s in SERVERS]
    assert all(set(p) == {HTTP_PORT} for p in hosts), hosts
    assert len({p[HTTP_PORT] for p in hosts}) == len(SERVERS)  # one host port each
    for server in SERVERS:
        root = _server_xml(compose, server, "cluster.xml")
        for port in ("mysql_port", "postgresql_port"):
            element = root.find(port)
            assert element is not None and element.get("remove"), port


def test_documented_environment_points_at_clickhouse_1_and_the_cluster(
    compose: dict[str, Any],
) -> None:
    env = _documented_env()
    dsn = urlsplit(env["PROOFSTREAM_CLICKHOUSE__DSN"])
    first = compose["services"][SERVERS[0]]
    assert dsn.scheme == "http" and dsn.hostname in ("localhost", "127.0.0.1")
    assert dsn.port == _published(first)[HTTP_PORT]
    assert dsn.username == first["environment"]["CLICKHOUSE_USER"] and dsn.password is None
    name, _, _ = _cluster(_server_xml(compose, SERVERS[0], "cluster.xml"))
    assert env["PROOFSTREAM_CLICKHOUSE__CLUSTER"] == name
    for server in SERVERS:
        # ON CLUSTER DDL runs on every node, in the database the settings name
        environment = compose["services"][server]["environment"]
        assert environment["CLICKHOUSE_DB"] == ClickHouseSettings().database
        assert environment["CLICKHOUSE_USER"] == dsn.username


# --- the DDL proofstream issues on this cluster ---------------------------------------


class _RecordingClient:
    """Stands in for the server behind the DSN: records every DDL statement and answers
    the store's reads as a fresh server would (no migration applied, no pipeline)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def command(self, sql: str) -> None:
        self.statements.append(sql)

    def query(self, sql: str, parameters: object = None) -> SimpleNamespace:
        rows: list[tuple[str, ...]] = []
        if "system.columns" in sql:  # column_types(): the tables the migrations made
            rows = [(t, c, "String") for t, cols in TABLE_COLUMNS.items() for c in cols]
        return SimpleNamespace(result_rows=rows)

    def insert(self, *args: object, **kwargs: object) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def cluster_ddl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Every statement ``ClickHouseStore.open`` runs (migrations, bookkeeping tables,
    ingest pipeline) with the settings the compose header documents, read the way the
    CLI reads them: ``PROOFSTREAM_*`` plus the password file in the secrets directory."""
    secrets = tmp_path_factory.mktemp("secrets")
    (secrets / "clickhouse__password").write_text("not-the-real-one\n")
    client = _RecordingClient()
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("PROOFSTREAM_")]:
            mp.delenv(name)
        for name, value in _documented_env().items():
            mp.setenv(name, value)
        settings = Settings(_secrets_dir=secrets).clickhouse
        assert settings.password is not None  # the documented file name is the one read
        mp.setattr(facts_store, "connect", lambda *args, **kwargs: client)
        store = ClickHouseStore.open(settings, tmp_path_factory.mktemp("state"))
        store.close()
    yield client.statements


def test_cluster_ddl_uses_only_the_cluster_and_macros_the_servers_define(
    compose: dict[str, Any], cluster_ddl: list[str]
) -> None:
    name, _, _ = _cluster(_server_xml(compose, SERVERS[0], "cluster.xml"))
    text = "\n".join(cluster_ddl)
    used = set(re.findall(r"\{(\w+)\}", text))
    assert used == {"shard", "replica"}  # what sinks/facts/cluster.py substitutes
    for server in SERVERS:
        defined = _macros(compose, server)
        assert used <= set(defined), f"{server} defines {sorted(defined)}, DDL uses {used}"
    creates = [s for s in cluster_ddl if s.startswith("CREATE ")]
    assert len(creates) == len(cluster_ddl) > 0
    # every object is created on every node, on the cluster remote_servers defines
    assert all(re.search(r"\bON CLUSTER (\w+)", s) for s in creates)
    assert set(re.findall(r"\bON CLUSTER (\w+)", text)) == {name}
    distributed = re.findall(r"ENGINE = Distributed\((\w+), (\w+), (\w+),", text)
    assert distributed, "no Distributed tables"
    database = compose["services"][SERVERS[0]]["environment"]["CLICKHOUSE_DB"]
    assert {(c, d) for c, d, _ in distributed} == {(name, database)}


def test_replicas_of_a_shard_share_each_table_path_under_distinct_names(
    compose: dict[str, Any], cluster_ddl: list[str]
) -> None:
    # what makes a re-delivered block deduplicate on whichever node it reaches: both
    # nodes register every table under the same Keeper path, as different replicas
    engines = re.findall(r"Replicated\w*MergeTree\('([^']+)', '([^']+)'", "\n".join(cluster_ddl))
    assert engines, "no replicated tables"
    _, shards, _ = _cluster(_server_xml(compose, SERVERS[0], "cluster.xml"))
    macros = {s: _macros(compose, s) for s in SERVERS}

    def expand(template: str, server: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: macros[server][m.group(1)], template)

    for path, replica in engines:
        for shard in shards:
            hosts = [host for host, _ in shard]
            assert len({expand(path, h) for h in hosts}) == 1, path
            assert len({expand(replica, h) for h in hosts}) == len(hosts), replica
