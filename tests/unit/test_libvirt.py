"""The libvirt compute driver against libvirt's in-process test hypervisor (``test:///default``).

Every test gets a fresh driver and closes it: the test hypervisor's state lives only while a
connection to it is open, so each test starts with the one domain (``test``) libvirt ships.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import driver_core
from driver_core.compute import NodeSpec
from driver_core.errors import (
    Conflict,
    NotFound,
    NotSupported,
    PartialFailure,
    Unreachable,
    ValidationError,
)
from driver_core.models import Node, NodeState
from driver_core.profiles import ConnectionOptions
from driver_core.providers.libvirt.compute import LibvirtComputeDriver

URI = "test:///default"


def make(endpoint: str | None = URI, **options: Any) -> LibvirtComputeDriver:
    return LibvirtComputeDriver(ConnectionOptions(provider="libvirt", endpoint=endpoint, options=options))


@pytest.fixture
def driver() -> Iterator[LibvirtComputeDriver]:
    drv = make(page_size=5)
    try:
        assert [n.name for n in drv.list_nodes()] == ["test"], "the test hypervisor did not start clean"
        yield drv
    finally:
        drv.close()
        # libvirt objects (domains, volumes) hold the connection too; tracebacks of caught
        # errors keep some alive in reference cycles until the collector runs
        gc.collect()


@pytest.fixture
def image(driver: LibvirtComputeDriver) -> str:
    """A base image: a volume in the test hypervisor's default-pool."""
    driver.create_volume(1, "base.img")
    return "base.img"


def names(driver: LibvirtComputeDriver) -> list[str]:
    return sorted(n.name for n in driver.list_nodes())


def raw_domain(driver: LibvirtComputeDriver, name: str) -> Any:
    return driver._connection().lookupByName(name)


# ---------------------------------------------------------------- connection
def test_endpoint_is_required() -> None:
    with pytest.raises(ValidationError, match="LIBVIRT_DEFAULT_URI"):
        make(None)


def test_get_driver_finds_it_and_the_uri_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", URI)
    drv = driver_core.get_driver("compute", "libvirt")
    try:
        assert isinstance(drv, LibvirtComputeDriver) and drv.uri == URI
        assert "test" in names(drv)
    finally:
        drv.close()


def test_missing_libvirt_python_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # makes "import libvirt" fail
    with pytest.raises(ValidationError, match="pip install libvirt-python"):
        make()


def test_unreachable_host_is_unreachable_not_a_libvirt_error() -> None:
    drv = make("qemu+tcp://127.0.0.1:1/system")  # connecting is lazy
    with pytest.raises(Unreachable, match="cannot connect"):
        drv.list_nodes()
    drv.close()


def test_state_lives_as_long_as_the_driver(image: str) -> None:
    first = make()
    first.create_node("short-lived", "small", image)
    second = make()  # a second connection shares the live hypervisor
    assert "short-lived" in names(second)
    second.close()
    first.close()
    # the fixture's driver is still open, so its domain list still holds the node; a
    # hypervisor with no connection left (checked by every fixture) starts clean again


def test_capabilities_leave_out_snapshots_and_key_pairs(driver: LibvirtComputeDriver) -> None:
    assert "snapshots" not in driver.capabilities and "key_pairs" not in driver.capabilities
    assert {"nodes", "volumes", "tags", "bulk"} <= driver.capabilities
    assert driver.list_key_pairs() == []
    with pytest.raises(NotSupported, match="libvirt"):
        driver.list_snapshots()
    with pytest.raises(NotSupported):
        driver.create_snapshot("anything", "snap")
    with pytest.raises(NotSupported):
        driver.destroy_snapshot("anything")


# ----------------------------------------------------- sizes, images, places
def test_sizes_are_a_table_plus_custom_ones() -> None:
    drv = make(sizes={"huge": {"vcpus": 16, "ram_mb": 65536, "disk_gb": 40}})
    sizes = {s.id: s for s in drv.list_sizes()}
    assert (sizes["small"].vcpus, sizes["small"].ram_mb) == (1, 512)
    assert (sizes["xlarge"].vcpus, sizes["xlarge"].ram_mb) == (8, 8192)
    assert (sizes["huge"].vcpus, sizes["huge"].ram_mb, sizes["huge"].disk_gb) == (16, 65536, 40)
    for bad in ({"x": {"vcpus": 0, "ram_mb": 1}}, {"x": {"ram_mb": 512}}, ["small"]):
        with pytest.raises(ValidationError, match="sizes"):
            make(sizes=bad)


def test_images_and_locations(driver: LibvirtComputeDriver, image: str) -> None:
    images = driver.list_images()
    assert [(i.name, i.extra["pool"]) for i in images] == [("base.img", "default-pool")]
    assert [loc.id for loc in driver.list_locations()] == ["default-pool"]
    configured = make(images={"cirros": "/var/lib/images/cirros.qcow2"})
    try:
        assert configured.resolve_image("cirros").id == "/var/lib/images/cirros.qcow2"
    finally:
        configured.close()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"size": "enormous"}, "unknown size 'enormous'"),
        ({"image": "nope.img"}, "unknown image 'nope.img'"),
        ({"location": "no-such-pool"}, "unknown location"),
        ({"key_name": "mykey"}, "key pair 'mykey'"),
        ({"name": " "}, "non-empty name"),
    ],
)
def test_bad_specs_are_refused_before_anything_is_defined(
    driver: LibvirtComputeDriver, image: str, change: dict[str, str], message: str
) -> None:
    volumes = driver.list_volumes()
    args: dict[str, Any] = {"name": "web", "size": "small", "image": image, **change}
    with pytest.raises(ValidationError, match=message):
        driver.create_node(**args)
    assert names(driver) == ["test"]
    assert driver.list_volumes() == volumes


# --------------------------------------------------------------------- nodes
def test_create_get_and_list_past_one_page(
    driver: LibvirtComputeDriver, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = [
        driver.create_node(f"vm{i:02}", "small", image, tags={"n": str(i)}, user_data="#cloud-config\n")
        for i in range(12)
    ]
    node = created[3]
    assert node.state is NodeState.RUNNING
    assert (node.name, node.size, node.image, node.location, node.tags) == (
        "vm03",
        "small",
        driver.resolve_image(image).id,
        "default-pool",
        {"n": "3"},
    )
    assert node.created is not None and node.private_ips  # the test hypervisor leases an address
    assert node.extra["vcpus"] == 1 and node.extra["memory_mb"] == 512
    assert driver.get_node(node.id) == node
    assert driver.get_node("vm03").id == node.id  # a name finds it too
    assert "#cloud-config" in raw_domain(driver, "vm03").XMLDesc(0)  # user data kept in the metadata

    pages: list[int] = []
    from driver_core import transport

    real = transport.paginate  # every list pages through it, via paginate_sequence here

    def counting(fetch: Any, **kw: Any) -> Any:
        def counted(token: Any) -> Any:
            items, nxt = fetch(token)
            pages.append(len(items))
            return items, nxt

        return real(counted, **kw)

    monkeypatch.setattr(transport, "paginate", counting)
    listed = driver.list_nodes()
    assert pages == [5, 5, 3]
    assert sorted(n.name for n in listed) == ["test"] + [f"vm{i:02}" for i in range(12)]
    # each node's root disk is a clone of the image, attached as vda
    roots = {v.id: v for v in driver.list_volumes() if v.node}
    assert roots[node.extra["root_volume"]].node == node.id
    assert roots[node.extra["root_volume"]].device == "vda"


def test_get_missing_node_is_not_found(driver: LibvirtComputeDriver) -> None:
    for ref in ("00000000-0000-0000-0000-000000000000", "no-such-node"):
        with pytest.raises(NotFound):
            driver.get_node(ref)
    with pytest.raises(NotFound):
        driver.reboot_node("no-such-node")


def test_start_stop_reboot_destroy(driver: LibvirtComputeDriver, image: str) -> None:
    node = driver.create_node("life", "medium", image)
    root_volume = node.extra["root_volume"]
    assert driver.wait_for_state(node, NodeState.RUNNING, timeout=5).extra["vcpus"] == 2
    driver.reboot_node(node)
    driver.wait_for_state(node, "running", timeout=5)
    driver.stop_node(node)
    assert driver.wait_for_state(node, [NodeState.STOPPED], timeout=5).private_ips == []
    driver.stop_node(node)  # already stopped: nothing to do
    with pytest.raises(Conflict, match="not running"):
        driver.reboot_node(node)
    driver.start_node(node.id)
    driver.wait_for_state(node, NodeState.RUNNING, timeout=5)
    raw_domain(driver, "life").suspend()
    assert driver.get_node(node).state is NodeState.SUSPENDED
    driver.start_node(node)  # resumes
    driver.wait_for_state(node, NodeState.RUNNING, timeout=5)
    driver.destroy_node(node)
    with pytest.raises(NotFound):
        driver.get_node(node)
    with pytest.raises(NotFound):
        driver.get_volume(root_volume)
    with pytest.raises(NotFound):
        driver.destroy_node(node)
    assert names(driver) == ["test"]


def test_graceful_stop_and_defined_only(image: str, driver: LibvirtComputeDriver) -> None:
    graceful = make(graceful_stop=True)
    try:
        node = graceful.create_node("calm", "small", image, extra={"start": False})
        assert node.state is NodeState.STOPPED
        graceful.start_node(node)
        graceful.wait_for_state(node, NodeState.RUNNING, timeout=5)
        graceful.stop_node(node)
        graceful.wait_for_state(node, NodeState.STOPPED, timeout=5)
        graceful.destroy_node(node)
    finally:
        graceful.close()


def test_wait_for_state_times_out_with_the_state_reached(driver: LibvirtComputeDriver, image: str) -> None:
    node = driver.create_node("waiter", "small", image)
    with pytest.raises(Exception, match="'running' after 0 s; waited for stopped"):
        driver.wait_for_state(node, NodeState.STOPPED, timeout=0)


def test_client_token_makes_a_retry_return_the_same_node(driver: LibvirtComputeDriver, image: str) -> None:
    first = driver.create_node("once", "small", image, client_token="token-1")
    again = driver.create_node("once", "small", image, client_token="token-1")
    assert again.id == first.id
    assert names(driver) == ["once", "test"]
    assert len([v for v in driver.list_volumes() if v.node == first.id]) == 1


def test_duplicate_name_is_a_conflict_and_changes_nothing(driver: LibvirtComputeDriver, image: str) -> None:
    driver.create_node("dup", "small", image)
    volumes = driver.list_volumes()
    with pytest.raises(Conflict, match="exists already"):
        driver.create_node("dup", "large", image)
    with pytest.raises(Conflict):
        driver.create_node("test", "small", image)  # the test hypervisor's own domain
    assert names(driver) == ["dup", "test"]
    assert driver.list_volumes() == volumes


def test_image_outside_the_pools_is_used_in_place(driver: LibvirtComputeDriver) -> None:
    drv = make(images={"cirros": "/var/lib/images/cirros.qcow2"})
    try:
        volumes = drv.list_volumes()
        node = drv.create_node("pathy", "small", "cirros")
        assert node.extra["root_volume"] is None
        assert node.extra["disks"] == [{"device": "vda", "source": "/var/lib/images/cirros.qcow2"}]
        drv.destroy_node(node)
        assert drv.list_volumes() == volumes
    finally:
        drv.close()


# ------------------------------------------------------------------- volumes
def test_volume_create_attach_detach_destroy(driver: LibvirtComputeDriver, image: str) -> None:
    node = driver.create_node("host", "small", image, tags={"keep": "me"})
    other = driver.create_node("other", "small", image)
    vol = driver.create_volume(2, "data1")
    assert (vol.name, vol.size_gb, vol.state, vol.location, vol.node) == ("data1", 2, "available", "default-pool", None)
    assert driver.get_volume("data1") == vol
    with pytest.raises(Conflict, match="exists already"):
        driver.create_volume(1, "data1")
    with pytest.raises(ValidationError, match="no tags"):
        driver.create_volume(1, "tagged", tags={"a": "b"})

    attached = driver.attach_volume(vol, node)
    assert (attached.node, attached.device, attached.state) == (node.id, "vdb", "in-use")
    assert driver.attach_volume(vol.id, node.id) == attached  # already there
    with pytest.raises(Conflict, match="detach it first"):
        driver.attach_volume(vol, other)
    with pytest.raises(Conflict, match="detach it first"):
        driver.destroy_volume(vol)
    assert {"device": "vdb", "source": "volume:default-pool/data1"} in driver.get_node(node).extra["disks"]
    assert driver.get_node(node).tags == {"keep": "me"}  # the definition was rewritten with its metadata

    detached = driver.detach_volume(vol)
    assert (detached.node, detached.device, detached.state) == (None, None, "available")
    assert driver.detach_volume(vol) == detached  # attached nowhere: unchanged
    assert driver.attach_volume(vol, other, device="/dev/vdc").device == "vdc"
    driver.detach_volume(vol)
    with pytest.raises(Conflict, match="in use"):
        driver.attach_volume(vol, other, device="vda")
    with pytest.raises(ValidationError, match="device"):
        driver.attach_volume(vol, other, device="floppy0")
    with pytest.raises(Conflict, match="root disk"):
        driver.detach_volume(driver.get_node(node).extra["root_volume"])

    driver.destroy_volume(vol)
    with pytest.raises(NotFound):
        driver.get_volume(vol.id)
    with pytest.raises(NotFound):
        driver.destroy_volume(vol.id)


def test_attach_to_a_missing_node_changes_nothing(driver: LibvirtComputeDriver, image: str) -> None:
    node = driver.create_node("keeper", "small", image)
    vol = driver.create_volume(1, "loose")
    before = raw_domain(driver, "keeper").XMLDesc(0)
    with pytest.raises(NotFound):
        driver.attach_volume(vol, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):
        driver.attach_volume("no-such-volume", node)
    assert driver.get_volume(vol.id) == vol
    assert raw_domain(driver, "keeper").XMLDesc(0) == before


# ---------------------------------------------------------------------- tags
def test_update_tags(driver: LibvirtComputeDriver, image: str) -> None:
    node = driver.create_node("tagged", "small", image, tags={"env": "dev", "team": "a"})
    driver.update_tags(node, set={"env": "prod", "tier": "web"}, remove=["team"])
    assert driver.get_node(node).tags == {"env": "prod", "tier": "web"}
    driver.stop_node(node)
    driver.update_tags(node.id, remove=["tier"])
    assert driver.get_node(node).tags == {"env": "prod"}
    driver.update_tags("test", set={"owner": "libvirt"})  # a domain driver-core did not create
    assert driver.get_node("test").tags == {"owner": "libvirt"}
    with pytest.raises(NotFound):
        driver.update_tags("no-such-node", set={"a": "b"})
    with pytest.raises(NotSupported, match="no tags"):
        driver.update_tags(driver.create_volume(1, "v"), set={"a": "b"})


# ---------------------------------------------------------------------- bulk
def test_create_nodes_partial_failure_and_rollback(driver: LibvirtComputeDriver, image: str) -> None:
    existing = {n.id for n in driver.list_nodes()}
    volumes = driver.list_volumes()
    specs = [NodeSpec(name=f"bulk{i}", size="small", image=image, tags={"batch": "1"}) for i in range(7)]
    specs.insert(3, NodeSpec(name="test", size="small", image=image))  # the name is taken
    with pytest.raises(PartialFailure) as caught:
        driver.create_nodes(specs, concurrency=4)
    failure = caught.value
    assert len(failure.errors) == 1 and isinstance(failure.errors[0], Conflict)
    created = {n.id for n in failure.created if isinstance(n, Node)}
    assert created == {n.id for n in driver.list_nodes()} - existing
    assert len(created) == 7
    assert driver.rollback(failure, concurrency=4) == []
    assert {n.id for n in driver.list_nodes()} == existing
    assert driver.list_volumes() == volumes


def test_create_nodes_all_good(driver: LibvirtComputeDriver, image: str) -> None:
    nodes = driver.create_nodes([{"name": f"ok{i}", "size": "small", "image": image} for i in range(6)], concurrency=4)
    assert sorted(n.name for n in nodes) == [f"ok{i}" for i in range(6)]
    assert all(n.state is NodeState.RUNNING for n in nodes)
    assert driver.destroy_nodes(nodes, concurrency=4) == []
    assert names(driver) == ["test"]
