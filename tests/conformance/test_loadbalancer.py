"""The load-balancer conformance suite: the same tests for every load-balancer provider
(today aws: ELBv2 in a moto server; nodes come from the same provider's compute driver)."""

from __future__ import annotations

import uuid

import pytest

from driver_core import errors
from driver_core.models import Member
from tests.conftest import BalancerEnv


@pytest.fixture
def env(lb_env: BalancerEnv) -> BalancerEnv:
    return lb_env


def name() -> str:
    return f"dc-{uuid.uuid4().hex[:8]}"


def keys(members: list[Member]) -> set[tuple[str | None, int]]:
    return {(m.node or m.ip, m.port) for m in members}


def test_balancer_lifecycle_with_node_members(env: BalancerEnv) -> None:
    nodes = env.compute.create_nodes([{"name": name(), "size": env.size, "image": env.image} for _ in range(3)])
    made = env.lb.create_balancer(
        name(), 80, "http", algorithm="round_robin", members=[{"node": nodes[0], "port": 8080}]
    )
    assert (made.port, made.protocol, made.algorithm) == (80, "http", "round_robin")
    assert env.lb.get_balancer(made.name).id == made.id
    assert keys(env.lb.list_members(made)) == {(nodes[0].id, 8080)}
    env.lb.attach_member(made, {"node": nodes[1].id, "port": 8080})
    env.lb.attach_member(made, Member(None, 8081, nodes[2].id))
    assert keys(env.lb.list_members(made)) == {(nodes[0].id, 8080), (nodes[1].id, 8080), (nodes[2].id, 8081)}
    env.lb.detach_member(made, {"node": nodes[0].id, "port": 8080})
    assert keys(env.lb.list_members(made)) == {(nodes[1].id, 8080), (nodes[2].id, 8081)}
    env.lb.destroy_balancer(made)
    with pytest.raises(errors.NotFound):
        env.lb.get_balancer(made.name)


def test_listing_past_one_page(env: BalancerEnv) -> None:
    names = {name() for _ in range(5)}
    for n in names:
        env.lb.create_balancer(n, 80, "http")
    listed = [b.name for b in env.lb.iterate_balancers()]
    assert names <= set(listed) and len(listed) == len(set(listed))


def test_missing_node_member_changes_nothing(env: BalancerEnv) -> None:
    made = env.lb.create_balancer(name(), 80, "http")
    with pytest.raises(errors.NotFound):
        env.lb.attach_member(made, {"node": "i-0123456789abcdef0", "port": 80})
    assert env.lb.list_members(made) == []
    before = {b.name for b in env.lb.list_balancers()}
    with pytest.raises(errors.NotFound):
        env.lb.create_balancer(name(), 80, "http", members=[{"node": "i-0123456789abcdef0", "port": 80}])
    assert {b.name for b in env.lb.list_balancers()} == before


@pytest.mark.parametrize(
    "port,protocol,algorithm", [(0, "http", None), (70000, "http", None), (80, "gopher", None), (80, "http", "random")]
)
def test_invalid_input_creates_nothing(env: BalancerEnv, port: int, protocol: str, algorithm: str | None) -> None:
    before = {b.name for b in env.lb.list_balancers()}
    with pytest.raises(errors.ValidationError):
        env.lb.create_balancer(name(), port, protocol, algorithm=algorithm)
    assert {b.name for b in env.lb.list_balancers()} == before


def test_duplicate_name_is_a_conflict(env: BalancerEnv) -> None:
    made = env.lb.create_balancer(name(), 80, "http")
    with pytest.raises(errors.Conflict):
        env.lb.create_balancer(made.name, 81, "http")
    assert env.lb.list_algorithms() and "http" in env.lb.list_protocols()
