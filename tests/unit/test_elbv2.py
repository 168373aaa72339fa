"""The ELBv2 load-balancer driver against a real moto server (EC2 instances made with boto3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from driver_core import errors
from driver_core.loadbalancer import LoadBalancerDriver
from driver_core.models import Balancer, Member, Node, NodeState
from driver_core.profiles import ConnectionOptions
from driver_core.providers.aws.loadbalancer import ELBv2LoadBalancerDriver
from tests.backends import Server

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing-key", "aws_secret_access_key": "testing-secret", "region_name": REGION}


def make_driver(server: Server, **options: Any) -> ELBv2LoadBalancerDriver:
    return ELBv2LoadBalancerDriver(
        ConnectionOptions("aws", key="testing-key", secret="testing-secret", endpoint=server.url, options=options)
    )


@pytest.fixture
def lb(moto: Server) -> Iterator[ELBv2LoadBalancerDriver]:
    requests.post(f"{moto.url}/moto-api/reset", timeout=10)
    with make_driver(moto) as driver:
        yield driver


@pytest.fixture
def elbv2(moto: Server) -> Any:
    return boto3.client("elbv2", endpoint_url=moto.url, **CREDS)


@pytest.fixture
def ec2(moto: Server) -> Any:
    return boto3.client("ec2", endpoint_url=moto.url, **CREDS)


def run_instances(ec2: Any, count: int = 2) -> list[str]:
    reply = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count, InstanceType="t2.micro")
    return [i["InstanceId"] for i in reply["Instances"]]


def inventory(elbv2: Any) -> tuple[list[str], list[str]]:
    """The names of every load balancer and target group that exist."""
    balancers = sorted(b["LoadBalancerName"] for b in elbv2.describe_load_balancers()["LoadBalancers"])
    groups = sorted(g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"])
    return balancers, groups


def targets(elbv2: Any, balancer: Balancer) -> set[tuple[str, int]]:
    health = elbv2.describe_target_health(TargetGroupArn=balancer.extra["target_group_arn"])
    return {(t["Target"]["Id"], t["Target"]["Port"]) for t in health["TargetHealthDescriptions"]}


# ---------------------------------------------------------------- create / get
def test_create_with_instance_members(lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any) -> None:
    ids = run_instances(ec2)
    node = Node(id=ids[1], name="two", state=NodeState.RUNNING)
    members: list[Member | dict[str, Any]] = [
        Member(None, 8080, ids[0]),
        {"node": node, "port": 8081},
    ]  # a Node model or its id
    made = lb.create_balancer("web", 80, "HTTP", algorithm="least_connections", members=members)
    assert (made.name, made.port, made.protocol, made.algorithm) == ("web", 80, "http", "least_connections")
    assert made.id.startswith("arn:aws:elasticloadbalancing:") and made.address
    assert {(m.node, m.port, m.ip) for m in made.members} == {(ids[0], 8080, None), (ids[1], 8081, None)}
    assert made.extra["type"] == "application" and made.extra["target_type"] == "instance"
    assert targets(elbv2, made) == {(ids[0], 8080), (ids[1], 8081)}
    attrs = elbv2.describe_target_group_attributes(TargetGroupArn=made.extra["target_group_arn"])["Attributes"]
    assert {a["Key"]: a["Value"] for a in attrs}["load_balancing.algorithm.type"] == "least_outstanding_requests"
    listener = elbv2.describe_listeners(LoadBalancerArn=made.id)["Listeners"][0]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")

    got = lb.get_balancer("web")
    assert (got.id, got.port, got.protocol, got.algorithm, got.address) == (
        made.id, 80, "http", "least_connections", made.address
    )  # fmt: skip
    assert lb.get_balancer(made.id).name == "web"  # by ARN too
    assert sorted(m.id or "" for m in lb.list_members(got)) == sorted([f"{ids[0]}:8080", f"{ids[1]}:8081"])


def test_create_with_ip_members_is_a_network_balancer(lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any) -> None:
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    made = lb.create_balancer(
        "dns", 53, "udp", members=[{"ip": "10.0.0.5", "port": 53}, {"ip": "10.0.0.6"}], extra={"subnets": subnets}
    )
    assert (made.protocol, made.extra["type"], made.extra["target_type"]) == ("udp", "network", "ip")
    assert sorted(made.extra["subnets"]) == sorted(subnets)
    assert {(m.ip, m.port, m.node) for m in made.members} == {("10.0.0.5", 53, None), ("10.0.0.6", 53, None)}
    group = elbv2.describe_target_groups(Names=["dns"])["TargetGroups"][0]
    assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "UDP", 53)


def test_create_without_members_uses_default_subnets(lb: ELBv2LoadBalancerDriver, ec2: Any) -> None:
    made = lb.create_balancer("bare", 443, "tcp")
    default = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(made.extra["subnets"]) == sorted(s["SubnetId"] for s in default)
    assert made.members == [] and made.extra["target_type"] == "instance"


def test_list_and_get_past_one_page(moto: Server, lb: ELBv2LoadBalancerDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        lb.create_balancer(f"page-{i}", 8000 + i, "tcp")
    with make_driver(moto, page_size=2) as paged:
        pages: list[int] = []
        original = paged._elb

        def counting(action: str, params: list[tuple[str, str]] | None = None) -> Any:
            if action == "DescribeLoadBalancers" and ("PageSize", "2") in (params or []):
                pages.append(1)
            return original(action, params)

        monkeypatch.setattr(paged, "_elb", counting)
        found = paged.list_balancers()
        assert sorted((b.name, b.port) for b in found) == [(f"page-{i}", 8000 + i) for i in range(5)]
        assert len(pages) == 3
        assert paged.get_balancer("page-4").port == 8004
    with pytest.raises(errors.NotFound, match="does not exist"):
        lb.get_balancer("nope")


# ------------------------------------------------------------------- members
def test_attach_and_detach_members(lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any) -> None:
    ids = run_instances(ec2, 3)
    made = lb.create_balancer("members", 80, "http", members=[{"node": ids[0], "port": 80}])
    added = lb.attach_member("members", {"node": ids[1]})  # the port defaults to the balancer's
    assert (added.node, added.port) == (ids[1], 80)
    again = lb.attach_member(made, Member(ip=None, port=80, node=ids[1]))  # already there: unchanged
    assert again.id == f"{ids[1]}:80"
    assert targets(elbv2, made) == {(ids[0], 80), (ids[1], 80)}

    lb.detach_member("members", {"node": ids[0], "port": 80})
    assert targets(elbv2, made) == {(ids[1], 80)}
    assert [m.node for m in lb.list_members("members")] == [ids[1]]
    with pytest.raises(errors.NotFound, match="has no member"):
        lb.detach_member("members", {"node": ids[0], "port": 80})
    with pytest.raises(errors.ValidationError, match="instance targets"):
        lb.attach_member("members", {"ip": "10.1.2.3", "port": 80})
    assert targets(elbv2, made) == {(ids[1], 80)}


def test_ip_members_attach_and_detach(lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    made = lb.create_balancer("ipl", 9000, "tcp", extra={"target_type": "ip"})
    lb.attach_member("ipl", {"ip": "10.0.0.7", "port": 9001})
    assert targets(elbv2, made) == {("10.0.0.7", 9001)}
    with pytest.raises(errors.ValidationError, match="ip targets"):
        lb.attach_member("ipl", {"node": "i-0123456789abcdef0", "port": 9001})
    lb.detach_member(made, Member(ip="10.0.0.7", port=9001))
    assert targets(elbv2, made) == set()


def test_attaching_a_missing_node_changes_nothing(lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any) -> None:
    ids = run_instances(ec2, 1)
    made = lb.create_balancer("strict", 80, "http", members=[{"node": ids[0], "port": 80}])
    for ghost in ("i-0123456789abcdef0", "not-an-instance"):
        with pytest.raises(errors.NotFound):
            lb.attach_member("strict", {"node": ghost, "port": 80})
    assert targets(elbv2, made) == {(ids[0], 80)}
    ec2.terminate_instances(InstanceIds=ids)
    with pytest.raises(errors.NotFound, match="terminated"):
        lb.attach_member("strict", {"node": ids[0], "port": 81})


def test_create_with_a_missing_node_creates_nothing(lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    with pytest.raises(errors.NotFound):
        lb.create_balancer("ghosts", 80, "http", members=[{"node": "i-0123456789abcdef0", "port": 80}])
    assert inventory(elbv2) == ([], [])


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("bad", 0, "http"), {}, "between 1 and 65535"),
        (("bad", 65536, "http"), {}, "between 1 and 65535"),
        (("bad", "eighty", "http"), {}, "whole number"),
        (("bad", 80, "gopher"), {}, "protocol 'gopher'"),
        (("bad", 80, "http"), {"algorithm": "random"}, "algorithm 'random'"),
        (("bad", 80, "tcp"), {"algorithm": "least_connections"}, "flow hash"),
        (("bad", 80, "https"), {}, "certificate_arn"),
        (("bad", 80, "http"), {"members": [{"ip": "10.0.0.1", "node": "i-1", "port": 80}]}, "exactly one"),
        (("bad", 80, "http"), {"members": [{"ip": "300.1.1.1", "port": 80}]}, "not an IP address"),
        (("bad", 80, "http"), {"members": [{"ip": "10.0.0.1", "port": 0}]}, "member port"),
        (("bad", 80, "http"), {"members": [{"host": "a", "port": 80}]}, "unknown keys"),
        (("bad", 80, "http"), {"members": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.1", "port": 80}]}, "listed twice"),
        (("bad", 80, "http"), {"members": ["10.0.0.1"]}, "a member is"),
        (("bad", 80, "http"), {"members": [{"ip": "10.0.0.1", "port": 80}, {"node": "i-1", "port": 80}]}, "one kind"),
        (("bad", 80, "http"), {"members": [{"ip": "10.0.0.1", "port": 80}], "extra": {"target_type": "instance"}},
         "one kind"),
        (("bad_name", 80, "http"), {}, "letters, digits and hyphens"),
        (("internal-x", 80, "http"), {}, "internal-"),
        (("x" * 33, 80, "http"), {}, "1-32"),
        (("bad", 80, "http"), {"extra": {"subnet": "s-1"}}, "unknown extra"),
        (("", 80, "http"), {}, "non-empty name"),
    ],
)  # fmt: skip
def test_invalid_requests_create_nothing(
    lb: ELBv2LoadBalancerDriver, elbv2: Any, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.ValidationError, match=message):
        lb.create_balancer(*args, **kwargs)
    assert inventory(elbv2) == ([], [])


def test_vocabularies(lb: ELBv2LoadBalancerDriver) -> None:
    assert isinstance(lb, LoadBalancerDriver) and lb.provider == "aws"
    assert lb.list_algorithms() == ["round_robin", "least_connections"]
    assert lb.list_protocols() == ["http", "https", "tcp", "udp", "tls"]


def test_duplicate_name_is_a_conflict(lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    lb.create_balancer("twice", 80, "http")
    with pytest.raises(errors.Conflict, match="already exists"):
        lb.create_balancer("twice", 81, "tcp")
    assert inventory(elbv2) == (["twice"], ["twice"])
    # A stray target group of the balancer's name is a conflict too, and is left alone.
    vpc = elbv2.describe_load_balancers()["LoadBalancers"][0]["VpcId"]
    elbv2.create_target_group(Name="stray", Protocol="HTTP", Port=80, VpcId=vpc)
    with pytest.raises(errors.Conflict, match="target group named 'stray'"):
        lb.create_balancer("stray", 80, "http")
    assert inventory(elbv2) == (["twice"], ["stray", "twice"])


# ------------------------------------------------------------------- destroy
def test_destroy_removes_all_three(lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any) -> None:
    ids = run_instances(ec2, 1)
    made = lb.create_balancer("gone", 80, "http", members=[{"node": ids[0], "port": 80}])
    keep = lb.create_balancer("kept", 81, "tcp")
    lb.destroy_balancer("gone")
    assert inventory(elbv2) == (["kept"], ["kept"])
    with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
        elbv2.describe_listeners(LoadBalancerArn=made.id)
    with pytest.raises(elbv2.exceptions.ListenerNotFoundException):
        elbv2.describe_listeners(ListenerArns=[made.extra["listener_arn"]])
    with pytest.raises(errors.NotFound):
        lb.destroy_balancer(made)
    with pytest.raises(errors.NotFound):
        lb.destroy_balancer("gone")
    lb.destroy_balancer(keep)
    assert inventory(elbv2) == ([], [])


# ------------------------------------------------------------ partial failure
def test_failed_listener_step_cleans_up(
    lb: ELBv2LoadBalancerDriver, ec2: Any, elbv2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = run_instances(ec2, 1)
    boom = errors.ProviderError("listener step failed", provider="aws", status=500, code="InternalFailure")

    def fail(*args: Any) -> str:
        raise boom

    monkeypatch.setattr(lb, "_create_listener", fail)
    with pytest.raises(errors.PartialFailure) as caught:
        lb.create_balancer("half", 80, "http", members=[{"node": ids[0], "port": 80}])
    failure = caught.value
    assert failure.created == [] and failure.errors == [boom]
    assert "load_balancer, target_group" in str(failure) and "removed all of it" in str(failure)
    assert inventory(elbv2) == ([], [])


def test_failed_cleanup_is_reported(lb: ELBv2LoadBalancerDriver, elbv2: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stuck = errors.Conflict("target group busy", provider="aws", code="ResourceInUse")

    def fail_listener(*args: Any) -> str:
        raise errors.ProviderError("listener step failed", provider="aws")

    def fail_delete(arn: str) -> None:
        raise stuck

    monkeypatch.setattr(lb, "_create_listener", fail_listener)
    monkeypatch.setattr(lb, "_delete_target_group", fail_delete)
    with pytest.raises(errors.PartialFailure) as caught:
        lb.create_balancer("stuck", 80, "http")
    failure = caught.value
    group = elbv2.describe_target_groups(Names=["stuck"])["TargetGroups"][0]
    assert failure.created == [{"resource": "target_group", "arn": group["TargetGroupArn"]}]
    assert failure.errors[1] is stuck and "could not remove target_group" in str(failure)
    assert inventory(elbv2) == ([], ["stuck"])  # the load balancer itself was removed
    monkeypatch.undo()
    elbv2.delete_target_group(TargetGroupArn=group["TargetGroupArn"])


def test_failure_of_the_first_step_is_the_error_itself(lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    with pytest.raises(errors.InvalidRequest):
        lb.create_balancer("nosubnet", 80, "http", extra={"subnets": ["subnet-00000000"]})
    assert inventory(elbv2) == ([], [])


def test_target_group_in_use_is_retried(lb: ELBv2LoadBalancerDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    slept: list[float] = []

    def elb(action: str, params: list[tuple[str, str]] | None = None) -> Any:
        calls.append(action)
        if len(calls) < 3:
            raise errors.Conflict("in use", provider="aws", code="ResourceInUse")
        return None

    monkeypatch.setattr(lb, "_elb", elb)
    lb.sleep = slept.append
    lb._delete_target_group("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/1")
    assert calls == ["DeleteTargetGroup"] * 3 and slept == [0.5, 1.0]


def test_https_and_tls_take_a_certificate(moto: Server, lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    acm = boto3.client("acm", endpoint_url=moto.url, **CREDS)
    cert = acm.request_certificate(DomainName="lb.example.test")["CertificateArn"]
    web = lb.create_balancer("secure", 443, "https", extra={"certificate_arn": cert})
    tls = lb.create_balancer("tls", 8443, "tls", extra={"certificate_arn": cert})
    assert (web.protocol, web.extra["type"], web.extra["target_protocol"]) == ("https", "application", "HTTP")
    assert (tls.protocol, tls.extra["type"], tls.extra["target_protocol"]) == ("tls", "network", "TCP")
    listener = elbv2.describe_listeners(LoadBalancerArn=web.id)["Listeners"][0]
    assert listener["Certificates"][0]["CertificateArn"] == cert


def test_a_step_refused_by_elbv2_is_a_partial_failure(lb: ELBv2LoadBalancerDriver, elbv2: Any) -> None:
    missing = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    with pytest.raises(errors.PartialFailure) as caught:
        lb.create_balancer("nocert", 443, "https", extra={"certificate_arn": missing})
    assert caught.value.created == []
    assert isinstance(caught.value.errors[0], errors.InvalidRequest)
    assert caught.value.errors[0].code == "CertificateNotFound"
    assert inventory(elbv2) == ([], [])
