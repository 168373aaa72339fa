"""The compute conformance suite: the same tests for every compute provider.

aws runs on EC2 in a moto server, libvirt on libvirt's test hypervisor (test:///default).
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import driver_core
from driver_core import errors
from driver_core.compute import NodeSpec
from driver_core.models import NodeState
from tests.conftest import new_ami


@dataclass
class Env:
    make: Callable[..., Any]
    size: str
    image: str


@pytest.fixture(params=["aws", "libvirt"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    made: list[Any] = []

    def remember(driver: Any) -> Any:
        driver.sleep = lambda _s: None  # both backends change state at once: no slow polling
        made.append(driver)
        return driver

    if request.param == "aws":
        url = request.getfixturevalue("moto_server").url

        def make(**options: Any) -> Any:
            return remember(
                driver_core.get_driver("compute", "aws", key="k", secret="s", endpoint=url, options=options)
            )

        first = make()
        yield Env(make, "t3.micro", new_ami(first))
    else:

        def make(**options: Any) -> Any:
            return remember(driver_core.get_driver("compute", "libvirt", endpoint="test:///default", options=options))

        first = make()
        first.create_volume(1, "conformance-base.img")
        yield Env(make, "small", "conformance-base.img")
    cleanup = made[0]
    for node in cleanup.list_nodes():
        if node.name.startswith("dc-"):
            try:
                cleanup.destroy_node(node)
            except errors.DriverError:
                pass
    for driver in made:
        driver.close()
    gc.collect()  # libvirt's test hypervisor lives as long as any object of its connection


def name() -> str:
    return f"dc-{uuid.uuid4().hex[:8]}"


def ours(driver: Any) -> set[str]:
    return {n.id for n in driver.list_nodes() if n.name.startswith("dc-")}


def test_node_lifecycle(env: Env) -> None:
    compute = env.make()
    node = compute.create_node(name(), env.size, env.image, tags={"role": "web"})
    assert node.name.startswith("dc-") and node.id
    running = compute.wait_for_state(node, "running", timeout=30)
    assert running.state is NodeState.RUNNING
    assert compute.get_node(node.id).name == node.name
    assert node.id in {n.id for n in compute.iterate_nodes()}
    compute.stop_node(node)
    assert compute.wait_for_state(node, [NodeState.STOPPED], timeout=30).state is NodeState.STOPPED
    compute.start_node(node)
    compute.wait_for_state(node, "running", timeout=30)
    compute.reboot_node(node.id)
    compute.wait_for_state(node, "running", timeout=30)
    compute.destroy_node(node)
    assert node.id not in {n.id for n in compute.list_nodes()}


def test_wait_timeout_says_what_state_was_reached(env: Env) -> None:
    compute = env.make()
    node = compute.create_node(name(), env.size, env.image)
    compute.wait_for_state(node, "running", timeout=30)
    with pytest.raises(errors.Timeout, match=r"'running'.*stopped"):
        compute.wait_for_state(node, "stopped", timeout=0)


@pytest.mark.parametrize("change", ["size", "image", "location", "key_name"])
def test_unknown_inputs_are_refused_and_nothing_is_created(env: Env, change: str) -> None:
    compute = env.make()
    before = ours(compute)
    args: dict[str, Any] = {"name": name(), "size": env.size, "image": env.image}
    args[change] = "no-such-" + change.replace("_", "-")
    with pytest.raises(errors.ValidationError, match=r"unknown|does not exist|no-such"):
        compute.create_node(**args)
    assert ours(compute) == before


def test_listing_past_one_page_and_bulk_create(env: Env) -> None:
    compute = env.make(page_size=5)
    before = ours(compute)
    created = compute.create_nodes([NodeSpec(name(), env.size, env.image) for _ in range(7)], concurrency=4)
    assert len(created) == 7
    assert ours(compute) == before | {n.id for n in created}
    listed = [n.id for n in compute.iterate_nodes()]
    assert len(listed) == len(set(listed))


def test_partial_failure_reports_what_was_created_and_rollback_removes_it(env: Env) -> None:
    compute = env.make()
    before = ours(compute)
    real_create = compute._create_node
    doomed = {name(), name()}

    def flaky(spec: NodeSpec) -> Any:
        if spec.name in doomed:
            raise errors.ProviderError(f"injected failure for {spec.name}", provider=compute.provider)
        return real_create(spec)

    compute._create_node = flaky
    specs = [NodeSpec(n, env.size, env.image) for n in [name(), *sorted(doomed), name(), name()]]
    with pytest.raises(errors.PartialFailure) as info:
        compute.create_nodes(specs, concurrency=3)
    failure = info.value
    assert len(failure.errors) == 2 and len(failure.created) == 3
    assert ours(compute) == before | {n.id for n in failure.created}  # what the provider shows
    assert compute.rollback(failure) == []
    assert ours(compute) == before


def test_volumes(env: Env) -> None:
    compute = env.make()
    node = compute.create_node(name(), env.size, env.image)
    compute.wait_for_state(node, "running", timeout=30)
    volume = compute.create_volume(1, name())
    assert volume.id in {v.id for v in compute.list_volumes()}
    with pytest.raises(errors.NotFound):
        compute.attach_volume(volume, "no-such-node")
    assert compute.get_volume(volume).node is None
    attached = compute.attach_volume(volume, node)
    assert attached.node == node.id
    detached = compute.detach_volume(volume)
    assert detached.node is None
    compute.destroy_volume(volume)
    assert volume.id not in {v.id for v in compute.list_volumes()}
    with pytest.raises(errors.ValidationError):
        compute.create_volume(0, name())


def test_tags_after_creation(env: Env) -> None:
    compute = env.make()
    node = compute.create_node(name(), env.size, env.image, tags={"a": "1", "b": "2"})
    compute.update_tags(node, set={"b": "3", "c": "4"}, remove=["a"])
    assert compute.get_node(node).tags == {"b": "3", "c": "4"}
