"""The desired-state compute resources against aws (EC2 in moto) and libvirt (test:///default):
a first run changes, a second changes nothing, check mode changes nothing (checked by listing the
provider), the diff names the right fields, absent removes and is then a no-op."""

from __future__ import annotations

import gc
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import driver_core
from driver_core import errors
from driver_core.desired import ensure
from driver_core.desired.compute import KeyPairResource, NodeResource, VolumeResource
from tests.conftest import new_ami

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnJ0YyOqVhXxgWzX8Y0sQkD2QG0f0m6Hn3oTj6mQm1d dc@test"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMc2rPYt7yq2mKhRZQk6wqJtKc2q1cQ2l1c1c2fW2Xq5 dc@other"


@dataclass
class Env:
    provider: str
    driver: Any
    size: str
    image: str
    other_image: str


def _make(request: pytest.FixtureRequest, provider: str) -> Iterator[Env]:
    if provider == "aws":
        url = request.getfixturevalue("moto_server").url
        driver = driver_core.get_driver("compute", "aws", key="k", secret="s", endpoint=url)
        env = Env(provider, driver, "t3.micro", new_ami(driver), new_ami(driver))
    else:
        driver = driver_core.get_driver("compute", "libvirt", endpoint="test:///default")
        driver.create_volume(1, "desired-base.img")
        driver.create_volume(1, "desired-other.img")
        env = Env(provider, driver, "small", "desired-base.img", "desired-other.img")
    driver.sleep = lambda _s: None  # both backends change state at once: no slow polling
    yield env
    for node in driver.list_nodes():
        if node.name.startswith("dc-"):
            try:
                driver.destroy_node(node)
            except errors.DriverError:
                pass
    driver.close()
    gc.collect()  # libvirt's test hypervisor lives as long as any object of its connection


@pytest.fixture(params=["aws", "libvirt"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    yield from _make(request, request.param)


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[Env]:
    yield from _make(request, "aws")


def name() -> str:
    return f"dc-{uuid.uuid4().hex[:8]}"


def named(env: Env, node_name: str) -> list[Any]:
    return [n for n in env.driver.list_nodes() if n.name == node_name]


def test_node_create_idempotent_check_and_absent(env: Env) -> None:
    n = name()
    args = {"name": n, "size": env.size, "image": env.image, "tags": {"role": "web"}, "wait": True}
    planned = ensure(NodeResource(env.driver, state="running", **args), check=True)
    assert (planned.changed, planned.action, planned.check) == (True, "create", True)
    assert named(env, n) == []  # check mode created nothing
    first = ensure(NodeResource(env.driver, state="running", **args))
    assert (first.changed, first.action) == (True, "create")
    assert first.after is not None and first.after["state"] == "running" and first.after["tags"] == {"role": "web"}
    assert len(named(env, n)) == 1
    again = ensure(NodeResource(env.driver, state="running", **args))
    assert (again.changed, again.action, again.diff) == (False, "none", {})
    assert not ensure(NodeResource(env.driver, name=n)).changed  # present: any state will do
    assert len(named(env, n)) == 1  # never a duplicate

    gone = ensure(NodeResource(env.driver, name=n, state="absent"), check=True)
    assert (gone.changed, gone.action) == (True, "delete") and len(named(env, n)) == 1
    assert ensure(NodeResource(env.driver, name=n, state="absent")).action == "delete"
    assert named(env, n) == []
    assert not ensure(NodeResource(env.driver, name=n, state="absent")).changed


def test_node_tags_with_and_without_purge(env: Env) -> None:
    n = name()
    ensure(NodeResource(env.driver, name=n, size=env.size, image=env.image, tags={"a": "1", "b": "2"}))
    kept = ensure(NodeResource(env.driver, name=n, tags={"b": "3"}))  # only the keys given are compared
    assert kept.diff == {"before": {"tags": {"a": "1", "b": "2"}}, "after": {"tags": {"a": "1", "b": "3"}}}
    assert named(env, n)[0].tags == {"a": "1", "b": "3"}
    assert not ensure(NodeResource(env.driver, name=n, tags={"b": "3"})).changed
    checked = ensure(NodeResource(env.driver, name=n, tags={"c": "4"}, purge_tags=True), check=True)
    assert checked.diff["after"] == {"tags": {"c": "4"}}
    assert named(env, n)[0].tags == {"a": "1", "b": "3"}  # check mode changed nothing
    assert ensure(NodeResource(env.driver, name=n, tags={"c": "4"}, purge_tags=True)).changed
    assert named(env, n)[0].tags == {"c": "4"}
    assert not ensure(NodeResource(env.driver, name=n, tags={"c": "4"}, purge_tags=True)).changed


def test_node_stopped_running_rebooted(env: Env) -> None:
    n = name()
    ensure(
        NodeResource(env.driver, name=n, size=env.size, image=env.image, state="running", wait=env.provider == "aws")
    )
    plan = ensure(NodeResource(env.driver, name=n, state="stopped"), check=True)
    assert plan.diff == {"before": {"state": "running"}, "after": {"state": "stopped"}}
    assert named(env, n)[0].state.value == "running"
    stopped = ensure(NodeResource(env.driver, name=n, state="stopped", wait=True, wait_timeout=30))
    assert stopped.changed and stopped.after is not None and stopped.after["state"] == "stopped"
    assert not ensure(NodeResource(env.driver, name=n, state="stopped")).changed
    started = ensure(NodeResource(env.driver, name=n, state="running"))
    assert started.changed and env.driver.wait_for_state(named(env, n)[0], "running", timeout=30)
    rebooted = ensure(NodeResource(env.driver, name=n, state="rebooted"))
    assert (rebooted.changed, rebooted.action) == (True, "update")  # a reboot is always a change
    assert ensure(NodeResource(env.driver, name=n, state="rebooted")).changed


def test_node_wait_timeout_says_what_was_reached(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    n = name()
    ensure(NodeResource(env.driver, name=n, size=env.size, image=env.image, state="running", wait=True))
    monkeypatch.setattr(env.driver, "stop_node", lambda node: None)  # a stop that never finishes
    with pytest.raises(errors.Timeout, match=r"is 'running' after 0 s; waited for stopped"):
        ensure(NodeResource(env.driver, name=n, state="stopped", wait=True, wait_timeout=0))


def test_node_image_and_size_changes_need_replacement(env: Env) -> None:
    n = name()
    ensure(NodeResource(env.driver, name=n, size=env.size, image=env.image, tags={"keep": "me"}))
    original = named(env, n)[0].id
    other = NodeResource(env.driver, name=n, image=env.other_image)
    plan = ensure(other, check=True)
    assert plan.action == "replace" and plan.notes == ["image change needs replacement"]
    assert set(plan.diff["after"]) == {"image"}
    with pytest.raises(errors.ValidationError, match="allow_replace"):
        ensure(NodeResource(env.driver, name=n, image=env.other_image))
    assert [x.id for x in named(env, n)] == [original]
    bigger = "t3.large" if env.provider == "aws" else "large"
    sized = ensure(NodeResource(env.driver, name=n, size=bigger), check=True)
    if env.provider == "aws":  # EC2 resizes in place: stop, change the type, start
        assert (sized.action, sized.notes) == ("update", [])
    else:
        assert sized.action == "replace" and sized.notes == ["size change needs replacement"]
    done = ensure(NodeResource(env.driver, name=n, image=env.other_image, allow_replace=True))
    assert (
        done.action == "replace"
        and done.after is not None
        and done.after["image"] == env.driver.resolve_image(env.other_image).id
    )
    assert [x.id for x in named(env, n)] != [original] and len(named(env, n)) == 1
    assert done.after["size"] == env.driver.resolve_size(env.size).id and done.after["tags"] == {"keep": "me"}


def test_node_size_change_is_stop_resize_start_on_ec2(aws: Env) -> None:
    env, n = aws, name()
    ensure(NodeResource(env.driver, name=n, size=env.size, image=env.image, state="running", wait=True))
    original = named(env, n)[0].id
    with pytest.raises(errors.Conflict, match="stop it"):
        env.driver.ex_resize_node(original, "t3.large")  # EC2 resizes stopped instances only
    plan = ensure(NodeResource(env.driver, name=n, size="t3.large"), check=True)
    assert (plan.action, plan.notes) == ("update", [])
    done = ensure(NodeResource(env.driver, name=n, size="t3.large", state="running", wait=True))
    assert done.diff == {"before": {"size": "t3.micro"}, "after": {"size": "t3.large"}}
    node = named(env, n)[0]
    assert (node.id, node.size, node.state.value) == (original, "t3.large", "running")


def test_exact_count_up_and_down_and_count(aws: Env) -> None:
    env, n = aws, name()
    args = {"name": n, "size": env.size, "image": env.image}
    plan = ensure(NodeResource(env.driver, exact_count=3, **args), check=True)
    assert (plan.action, plan.diff) == ("update", {"before": {"count": 0}, "after": {"count": 3}})
    assert named(env, n) == []
    assert ensure(NodeResource(env.driver, exact_count=3, **args)).changed
    assert len(named(env, n)) == 3
    assert not ensure(NodeResource(env.driver, exact_count=3, **args)).changed
    assert not ensure(NodeResource(env.driver, count=2, **args)).changed  # at least 2: there are 3
    oldest = min(named(env, n), key=lambda x: (x.created, x.id)).id
    down = ensure(NodeResource(env.driver, exact_count=1, **args))
    assert down.diff == {"before": {"count": 3}, "after": {"count": 1}}
    assert down.resource is not None and down.resource["count"] == 1
    assert len(named(env, n)) == 1
    up = ensure(NodeResource(env.driver, count=2, **args))
    assert up.changed and len(named(env, n)) == 2 and oldest in {x.id for x in named(env, n)}
    with pytest.raises(errors.ValidationError, match="2 nodes have this name"):
        ensure(NodeResource(env.driver, **args))
    assert ensure(NodeResource(env.driver, name=n, state="absent")).changed  # every node of the name
    assert named(env, n) == []
    assert not ensure(NodeResource(env.driver, name=n, state="absent")).changed


def test_exact_count_on_libvirt_one_and_zero(env: Env) -> None:
    n = name()
    args = {"name": n, "size": env.size, "image": env.image}
    assert ensure(NodeResource(env.driver, exact_count=1, **args)).changed
    assert not ensure(NodeResource(env.driver, **args)).changed  # the group's node is "the" node
    assert ensure(NodeResource(env.driver, exact_count=0, **args)).changed
    assert named(env, n) == []
    assert not ensure(NodeResource(env.driver, exact_count=0, **args)).changed


def test_volume(env: Env) -> None:
    n, v = name(), name()
    ensure(NodeResource(env.driver, name=n, size=env.size, image=env.image, state="running"))
    node_id = named(env, n)[0].id
    assert ensure(VolumeResource(env.driver, name=v, size=1), check=True).action == "create"
    assert v not in [x.name for x in env.driver.list_volumes()]
    assert ensure(VolumeResource(env.driver, name=v, size=1)).changed
    assert not ensure(VolumeResource(env.driver, name=v, size=1)).changed
    attach = ensure(VolumeResource(env.driver, name=v, node=n), check=True)
    assert attach.diff == {"before": {"node": None}, "after": {"node": node_id}}
    assert ensure(VolumeResource(env.driver, name=v, node=n)).changed
    assert not ensure(VolumeResource(env.driver, name=v, node=node_id)).changed
    with pytest.raises(errors.ValidationError, match="resize not supported"):
        ensure(VolumeResource(env.driver, name=v, size=2))
    detach = ensure(VolumeResource(env.driver, name=v, node=None))
    assert detach.changed and [x.node for x in env.driver.list_volumes() if x.name == v] == [None]
    assert ensure(VolumeResource(env.driver, name=v, state="absent")).action == "delete"
    assert not ensure(VolumeResource(env.driver, name=v, state="absent")).changed


def test_volume_cannot_shrink(aws: Env) -> None:
    v = name()
    ensure(VolumeResource(aws.driver, name=v, size=2))
    with pytest.raises(errors.ValidationError, match="cannot shrink"):
        ensure(VolumeResource(aws.driver, name=v, size=1))
    ensure(VolumeResource(aws.driver, name=v, state="absent"))


def test_key_pairs_import_create_and_secret(aws: Env, caplog: pytest.LogCaptureFixture) -> None:
    k = name()
    assert ensure(KeyPairResource(aws.driver, name=k, public_key=PUBLIC_KEY), check=True).action == "create"
    assert k not in [p.name for p in aws.driver.list_key_pairs()]
    assert ensure(KeyPairResource(aws.driver, name=k, public_key=PUBLIC_KEY)).changed
    assert not ensure(KeyPairResource(aws.driver, name=k, public_key=PUBLIC_KEY)).changed
    assert not ensure(KeyPairResource(aws.driver, name=k)).changed
    other = ensure(KeyPairResource(aws.driver, name=k, public_key=OTHER_KEY), check=True)
    if other.before is not None and other.before["public_key"]:
        assert other.action == "replace"
    else:  # EC2 shows a pair's public key only when asked to (IncludePublicKey): the skipped check is noted
        assert other.action == "none" and other.notes and "not compared" in other.notes[0]

    caplog.set_level(logging.DEBUG)
    made = name()
    resource = KeyPairResource(aws.driver, name=made)
    result = ensure(resource)
    assert result.action == "create" and resource.private_key
    assert resource.private_key not in json.dumps(result.to_dict()) + repr(result) + caplog.text
    assert result.resource is not None and result.resource["private_key"] == "<set>"
    for key in (k, made):
        assert ensure(KeyPairResource(aws.driver, name=key, state="absent")).changed
        assert not ensure(KeyPairResource(aws.driver, name=key, state="absent")).changed
