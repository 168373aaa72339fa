"""Fixtures shared by every test: the real backends, started once per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import driver_core
from tests import backends


def pytest_configure(config: pytest.Config) -> None:
    """Keep the tests hermetic: no credentials or profiles from the machine running them."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "AZURE_", "DRIVER_CORE_", "PDNS_", "LIBVIRT_")):
            del os.environ[var]
    os.environ["DRIVER_CORE_PROFILES"] = os.devnull


@pytest.fixture(scope="session")
def moto_server() -> Iterator[backends.Server]:
    yield from backends.serve(backends.start_moto)


@pytest.fixture(scope="session")
def moto_auth_server() -> Iterator[backends.Server]:
    """A moto server that verifies SigV4 signatures (server.env has a valid key and secret)."""
    yield from backends.serve(backends.start_moto, verify_signatures=True)


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[backends.Server]:
    yield from backends.serve(backends.start_azurite)


StorageFactory = Callable[..., Any]

#: Part sizes used by the conformance suite: the provider's minimum, to keep objects small.
PART_SIZES = {"aws": 5 * 1024 * 1024, "azure": 1024 * 1024, "local": 1024 * 1024}


def storage_options(
    provider: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    if provider == "aws":
        server = request.getfixturevalue("moto_server")
        return {"key": "testing-key", "secret": "testing-secret", "region": "us-east-1", "endpoint": server.url}
    if provider == "azure":
        server = request.getfixturevalue("azurite_server")
        return {"key": backends.AZURITE_ACCOUNT, "secret": backends.AZURITE_KEY, "endpoint": server.url}
    if provider == "local":
        return {"endpoint": str(tmp_path_factory.mktemp("local-storage"))}
    raise AssertionError(provider)


@pytest.fixture(params=["aws", "azure", "local"])
def storage_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageFactory]:
    """Make drivers of one provider (every test runs once per provider), cleaning up after."""
    provider = request.param
    base = storage_options(provider, request, tmp_path_factory)
    made: list[Any] = []

    def make(**options: Any) -> Any:
        # Small parts, and multipart from one part up, so part boundaries are crossed cheaply.
        opts = {"part_size": PART_SIZES[provider], "multipart_threshold": PART_SIZES[provider], **options}
        driver = driver_core.get_driver("storage", provider, **base, options=opts)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        for container in driver.list_containers():
            if container.name.startswith("dc-test-"):
                try:
                    driver.delete_container(container, force=True)
                except driver_core.DriverError:
                    pass
        driver.close()


@pytest.fixture
def storage(storage_factory: StorageFactory) -> Any:
    return storage_factory()


@pytest.fixture
def container(storage: Any) -> str:
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    storage.create_container(name)
    return name


def new_ami(compute: Any) -> str:
    """An AMI of our own in moto (it starts without its default AMIs)."""
    image: str = compute.ex_register_image(f"dc-{uuid.uuid4().hex[:8]}").id
    return image


def pattern(size: int, seed: int = 1) -> bytes:
    """Deterministic, non-repeating-looking test data of ``size`` bytes."""
    block = bytes((i * 131 + seed * 17) % 251 for i in range(4096))
    whole, rest = divmod(size, len(block))
    return block * whole + block[:rest]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def powerdns_server() -> Iterator[backends.Server]:
    from tests.pdns_backend import start_powerdns

    yield from backends.serve(start_powerdns)


def dns_options(
    provider: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    if provider == "aws":
        server = request.getfixturevalue("moto_server")
        return {"key": "testing-key", "secret": "testing-secret", "endpoint": server.url}
    if provider == "powerdns":
        server = request.getfixturevalue("powerdns_server")
        return {"secret": server.env["api_key"], "endpoint": server.url}
    if provider == "local":
        return {"endpoint": str(tmp_path_factory.mktemp("zones"))}
    raise AssertionError(provider)


@pytest.fixture(params=["aws", "powerdns", "local"])
def dns_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Any]]:
    """Make DNS drivers of one provider (every test runs once per provider), deleting test zones after."""
    base = dns_options(request.param, request, tmp_path_factory)
    made: list[Any] = []

    def make(**options: Any) -> Any:
        driver = driver_core.get_driver("dns", request.param, **base, options=options)
        made.append(driver)
        return driver

    yield make
    for driver in made[:1]:
        for zone in driver.list_zones():
            if zone.domain.startswith("dc-"):
                try:
                    driver.delete_zone(zone)
                except driver_core.DriverError:
                    pass
    for driver in made:
        driver.close()


@pytest.fixture
def dns(dns_factory: Callable[..., Any]) -> Any:
    return dns_factory()


@dataclass
class BalancerEnv:
    """A load-balancer driver, the same provider's compute driver, and what nodes need."""

    lb: Any
    compute: Any
    size: str
    image: str


@pytest.fixture(params=["aws"])
def lb_env(request: pytest.FixtureRequest) -> Iterator[BalancerEnv]:
    """Load-balancer drivers of every provider (aws: ELBv2 and EC2 on moto); test balancers and
    nodes (named dc-...) are removed afterwards."""
    url = request.getfixturevalue("moto_server").url
    conn = {"key": "k", "secret": "s", "endpoint": url}
    lb = driver_core.get_driver("loadbalancer", "aws", **conn, options={"page_size": 2})
    compute = driver_core.get_driver("compute", "aws", **conn)
    yield BalancerEnv(lb, compute, "t3.micro", new_ami(compute))
    for balancer in lb.list_balancers():
        if balancer.name.startswith("dc-"):
            lb.destroy_balancer(balancer)
    for node in compute.list_nodes():
        if node.name.startswith("dc-"):
            compute.destroy_node(node)
    lb.close()
    compute.close()
