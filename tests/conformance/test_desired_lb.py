"""The desired-state engine against every load-balancer provider (today aws: ELBv2 in a moto
server, nodes from the same provider's compute driver): a first run creates, a second changes
nothing, check mode changes nothing (checked by listing the provider), members are reconciled
with and without purge_members, a port change is refused unless replacing is allowed, absent
removes and is then a no-op."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from driver_core import errors
from driver_core.desired import ensure
from driver_core.desired.loadbalancer import BalancerResource
from tests.conftest import BalancerEnv


@dataclass
class Env:
    lb: Any
    nodes: list[str]


@pytest.fixture
def env(lb_env: BalancerEnv) -> Env:
    specs = [{"name": name(), "size": lb_env.size, "image": lb_env.image} for _ in range(3)]
    return Env(lb_env.lb, [n.id for n in lb_env.compute.create_nodes(specs)])


def name() -> str:
    return f"dc-{uuid.uuid4().hex[:8]}"


def members(env: Env, lb_name: str) -> list[str]:
    return sorted(f"{m.node or m.ip}:{m.port}" for m in env.lb.list_members(lb_name))


def balancer(env: Env, lb_name: str, *nodes: int, **params: Any) -> BalancerResource:
    params.setdefault("port", 80)
    params.setdefault("protocol", "http")
    picked = [{"node": env.nodes[i], "port": 8080} for i in nodes]
    return BalancerResource(env.lb, name=lb_name, members=picked, **params)


def test_create_then_no_change_and_check_mode(env: Env) -> None:
    lb_name = name()
    planned = ensure(balancer(env, lb_name, 0, algorithm="round_robin"), check=True)
    assert (planned.changed, planned.action, planned.kind) == (True, "create", "load_balancer")
    assert planned.diff["after"]["members"] == [f"{env.nodes[0]}:8080"]
    assert lb_name not in [b.name for b in env.lb.list_balancers()]

    first = ensure(balancer(env, lb_name, 0, algorithm="round_robin"))
    assert (first.changed, first.action) == (True, "create")
    assert first.after == {
        "name": lb_name,
        "port": 80,
        "protocol": "http",
        "algorithm": "round_robin",
        "members": [f"{env.nodes[0]}:8080"],
    }
    assert members(env, lb_name) == [f"{env.nodes[0]}:8080"]
    again = ensure(balancer(env, lb_name, 0, algorithm="ROUND_ROBIN", protocol="HTTP", port="80"))
    assert (again.changed, again.action, again.diff) == (False, "none", {})
    # leaving members (and everything else but the name) out compares nothing
    assert not ensure(BalancerResource(env.lb, name=lb_name)).changed

    grow = ensure(balancer(env, lb_name, 0, 1, 2), check=True)
    assert (grow.changed, grow.action) == (True, "update")
    assert members(env, lb_name) == [f"{env.nodes[0]}:8080"]  # check mode attached nothing


def test_members_with_and_without_purge(env: Env) -> None:
    lb_name = name()
    ensure(balancer(env, lb_name, 0, 1))
    swap = ensure(balancer(env, lb_name, 1, 2))
    assert (swap.changed, swap.action) == (True, "update")
    assert swap.diff == {
        "before": {"members": sorted([f"{env.nodes[0]}:8080", f"{env.nodes[1]}:8080"])},
        "after": {"members": sorted([f"{env.nodes[1]}:8080", f"{env.nodes[2]}:8080"])},
    }
    assert members(env, lb_name) == sorted([f"{env.nodes[1]}:8080", f"{env.nodes[2]}:8080"])

    # without purge_members, listing fewer members removes none; listing a new one adds it
    assert not ensure(balancer(env, lb_name, 1, purge_members=False)).changed
    added = ensure(balancer(env, lb_name, 0, purge_members=False))
    assert added.diff["after"]["members"] == sorted(f"{n}:8080" for n in env.nodes)
    assert members(env, lb_name) == sorted(f"{n}:8080" for n in env.nodes)

    # with purge_members (the default) the list is the whole membership; an empty list empties it
    emptied = ensure(balancer(env, lb_name))
    assert (emptied.changed, emptied.diff["after"]) == (True, {"members": []})
    assert members(env, lb_name) == []


def test_missing_node_changes_nothing(env: Env) -> None:
    lb_name = name()
    ensure(balancer(env, lb_name, 0))
    wanted = [{"node": env.nodes[1], "port": 8080}, {"node": "i-0123456789abcdef0", "port": 8080}]
    for check in (True, False):
        with pytest.raises(errors.NotFound):
            ensure(BalancerResource(env.lb, name=lb_name, port=80, protocol="http", members=wanted), check=check)
        assert members(env, lb_name) == [f"{env.nodes[0]}:8080"]
    before = {b.name for b in env.lb.list_balancers()}
    with pytest.raises(errors.NotFound):
        ensure(BalancerResource(env.lb, name=name(), port=80, protocol="http", members=wanted))
    assert {b.name for b in env.lb.list_balancers()} == before


def test_port_change_needs_allow_replace(env: Env) -> None:
    lb_name = name()
    made = ensure(balancer(env, lb_name, 0))
    for check in (True, False):
        with pytest.raises(errors.ValidationError, match="port"):
            ensure(balancer(env, lb_name, 0, port=81), check=check)
    current = env.lb.get_balancer(lb_name)
    assert made.resource is not None
    assert (current.id, current.port) == (made.resource["id"], 80)

    planned = ensure(balancer(env, lb_name, 0, port=81, allow_replace=True), check=True)
    assert (planned.action, planned.diff) == ("replace", {"before": {"port": 80}, "after": {"port": 81}})
    assert env.lb.get_balancer(lb_name).port == 80
    replaced = ensure(balancer(env, lb_name, 0, port=81, allow_replace=True))
    assert (replaced.changed, replaced.action) == (True, "replace")
    assert env.lb.get_balancer(lb_name).port == 81
    assert members(env, lb_name) == [f"{env.nodes[0]}:8080"]

    # a replacement the provider would refuse is refused before the old balancer is destroyed
    refused = balancer(env, lb_name, 0, protocol="tcp", algorithm="least_connections", allow_replace=True)
    with pytest.raises(errors.ValidationError, match="least_connections"):
        ensure(refused)
    assert (env.lb.get_balancer(lb_name).protocol, members(env, lb_name)) == ("http", [f"{env.nodes[0]}:8080"])


def test_absent_removes_then_no_op(env: Env) -> None:
    lb_name = name()
    ensure(balancer(env, lb_name, 0))
    planned = ensure(BalancerResource(env.lb, name=lb_name, state="absent"), check=True)
    assert (planned.changed, planned.action) == (True, "delete")
    assert lb_name in [b.name for b in env.lb.list_balancers()]
    gone = ensure(BalancerResource(env.lb, name=lb_name, state="absent"))
    assert (gone.changed, gone.action, gone.after) == (True, "delete", None)
    assert lb_name not in [b.name for b in env.lb.list_balancers()]
    again = ensure(BalancerResource(env.lb, name=lb_name, state="absent"))
    assert (again.changed, again.action) == (False, "none")


def test_bad_input_is_refused(env: Env) -> None:
    with pytest.raises(errors.ValidationError, match="port and protocol"):
        ensure(BalancerResource(env.lb, name=name()), check=True)
    with pytest.raises(errors.ValidationError):
        BalancerResource(env.lb, name=name(), state="gone")


def test_ip_members_and_a_member_of_the_wrong_kind(env: Env) -> None:
    lb_name = name()
    ips = [{"ip": "10.0.0.5"}, {"ip": "10.0.0.6", "port": 8080}]
    made = ensure(BalancerResource(env.lb, name=lb_name, port=80, protocol="http", members=ips))
    assert made.after is not None and made.after["members"] == ["10.0.0.5:80", "10.0.0.6:8080"]
    assert not ensure(BalancerResource(env.lb, name=lb_name, members=list(reversed(ips)))).changed
    mixed = [*ips, {"ip": "10.0.0.7"}, {"node": env.nodes[0], "port": 80}]  # the new ip is not attached either
    with pytest.raises(errors.ValidationError):
        ensure(BalancerResource(env.lb, name=lb_name, members=mixed, purge_members=False))
    assert members(env, lb_name) == ["10.0.0.5:80", "10.0.0.6:8080"]
