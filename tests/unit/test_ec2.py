"""The EC2 compute driver against a real moto server (and one that verifies SigV4 signatures)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from requests.adapters import HTTPAdapter

from driver_core import errors
from driver_core.compute import NodeSpec
from driver_core.models import NodeState
from driver_core.profiles import ConnectionOptions
from driver_core.providers.aws import ec2_parse
from driver_core.providers.aws.compute import EC2ComputeDriver
from tests.backends import Server

SMALL = "t3.micro"


def make_driver(server: Server, **options: Any) -> EC2ComputeDriver:
    key = options.pop("key", "testing-key")
    secret = options.pop("secret", "testing-secret")
    region = options.pop("region", "us-east-1")
    return EC2ComputeDriver(
        ConnectionOptions("aws", key=key, secret=secret, region=region, endpoint=server.url, options=options)
    )


class Requests:
    """Records the form bodies a driver sends (a response hook on its session)."""

    def __init__(self, driver: EC2ComputeDriver) -> None:
        self.seen: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        driver.transport.session.hooks["response"].append(self._hook)

    def _hook(self, resp: requests.Response, *args: Any, **kw: Any) -> None:
        body = resp.request.body
        text = body.decode() if isinstance(body, bytes) else (body or "")
        self.seen.append(dict(parse_qsl(text)))
        self.headers.append(dict(resp.request.headers))

    def actions(self, name: str) -> list[dict[str, str]]:
        return [params for params in self.seen if params.get("Action") == name]


@pytest.fixture
def ec2(moto: Server) -> Iterator[EC2ComputeDriver]:
    requests.post(f"{moto.url}/moto-api/reset", timeout=10)
    with make_driver(moto) as driver:
        driver.sleep = lambda _s: None  # moto changes states at once: no need to poll slowly
        yield driver


@pytest.fixture
def image(ec2: EC2ComputeDriver) -> str:
    """An AMI of our own (moto starts without its default AMIs, and RegisterImage works)."""
    image = ec2.ex_register_image("dc-test-image")
    assert image.id.startswith("ami-") and image.name == "dc-test-image"
    return image.id


def instance_ids(ec2: EC2ComputeDriver, *, include_terminated: bool = False) -> set[str]:
    """What DescribeInstances shows, read without the driver's parsing."""
    root = ec2._call("DescribeInstances")
    return {
        el.findtext("instanceId") or ""
        for el in root.iterfind("reservationSet/item/instancesSet/item")
        if include_terminated or el.findtext("instanceState/name") != "terminated"
    }


# ---------------------------------------------------------------------------- wire format
def test_requests_are_signed_form_posts(ec2: EC2ComputeDriver) -> None:
    seen = Requests(ec2)
    ec2.list_locations()
    assert seen.seen[0] == {"Action": "DescribeAvailabilityZones", "Version": "2016-11-15"}
    headers = seen.headers[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert re.search(r"Credential=testing-key/\d{8}/us-east-1/ec2/aws4_request", headers["Authorization"])


def test_default_endpoint_follows_the_region() -> None:
    driver = EC2ComputeDriver(ConnectionOptions("aws", key="k", secret="s", region="eu-west-2"))
    assert driver.url == "https://ec2.eu-west-2.amazonaws.com/"
    with pytest.raises(errors.ValidationError, match="AWS_ACCESS_KEY_ID"):
        EC2ComputeDriver(ConnectionOptions("aws", region="eu-west-2"))


def test_signatures_verified_by_moto(moto_auth: Server) -> None:
    with make_driver(moto_auth, key=moto_auth.env["key"], secret=moto_auth.env["secret"]) as good:
        assert good.list_nodes() == []
    with make_driver(moto_auth, key=moto_auth.env["key"], secret="wrong") as bad, pytest.raises(errors.AuthError):
        bad.list_nodes()


# ---------------------------------------------------------------------------- nodes
def test_create_get_list_across_pages(moto: Server, image: str) -> None:
    with make_driver(moto, page_size=5) as ec2:
        seen = Requests(ec2)
        created = ec2.create_nodes(
            [NodeSpec(name=f"web-{i:02d}", size=SMALL, image=image, tags={"role": "web"}) for i in range(12)],
            concurrency=4,
        )
        assert len({n.id for n in created}) == 12
        listed = ec2.list_nodes()
        pages = seen.actions("DescribeInstances")
        assert {n.id for n in listed} == {n.id for n in created} == instance_ids(ec2)
        assert len(pages) == 3 and all(p["MaxResults"] == "5" for p in pages)
        assert "NextToken" not in pages[0] and all("NextToken" in p for p in pages[1:])
        node = ec2.get_node(created[3].id)
        assert node.name == "web-03" and node.tags == {"role": "web"}
        assert node.size == SMALL and node.image == image and node.location and node.location.startswith("us-east-1")
        assert node.private_ips and node.state is NodeState.RUNNING


def test_create_node_sends_what_was_asked(ec2: EC2ComputeDriver, image: str) -> None:
    ec2.import_key_pair("deploy", PUBLIC_KEY)
    seen = Requests(ec2)
    node = ec2.create_node(
        "api", SMALL, image, location="us-east-1b", key_name="deploy", user_data="#!/bin/sh\necho hi\n"
    )
    params = seen.actions("RunInstances")[0]
    assert params["MinCount"] == params["MaxCount"] == "1" and params["ClientToken"]
    assert params["Placement.AvailabilityZone"] == "us-east-1b" and params["KeyName"] == "deploy"
    assert params["UserData"] == "IyEvYmluL3NoCmVjaG8gaGkK"
    assert params["TagSpecification.1.ResourceType"] == "instance"
    assert node.name == "api" and node.location == "us-east-1b" and node.extra["key_name"] == "deploy"
    assert node.extra["client_token"] == params["ClientToken"]


def test_get_unknown_node_is_not_found(ec2: EC2ComputeDriver) -> None:
    with pytest.raises(errors.NotFound, match="i-0123456789abcdef0"):
        ec2.get_node("i-0123456789abcdef0")
    with pytest.raises(errors.NotFound):
        ec2.reboot_node("i-0123456789abcdef0")


def test_lifecycle_with_wait_for_state(ec2: EC2ComputeDriver, image: str) -> None:
    node = ec2.create_node("life", SMALL, image)
    assert ec2.wait_for_state(node, NodeState.RUNNING, timeout=30, require_address=True).public_ips
    ec2.reboot_node(node)
    assert ec2.wait_for_state(node, "running", timeout=30).state is NodeState.RUNNING
    ec2.stop_node(node.id)
    assert ec2.wait_for_state(node, [NodeState.STOPPED], timeout=30).state is NodeState.STOPPED
    ec2.start_node(node)
    assert ec2.wait_for_state(node, NodeState.RUNNING, timeout=30).state is NodeState.RUNNING
    ec2.destroy_node(node)
    assert ec2.wait_for_state(node, NodeState.TERMINATED, timeout=30).state is NodeState.TERMINATED
    assert ec2.list_nodes() == []
    with pytest.raises(errors.NotFound):
        ec2.destroy_node(node)  # already gone


def test_state_mapping() -> None:
    assert ec2_parse.STATES["shutting-down"] is NodeState.STOPPING
    assert ec2_parse.STATES["stopping"] is NodeState.STOPPING
    assert ec2_parse.STATES["pending"] is NodeState.PENDING


def test_client_token_makes_one_instance(ec2: EC2ComputeDriver, image: str) -> None:
    """The same spec twice is one instance: EC2 dedupes by ClientToken, and the driver also
    remembers its tokens because moto ignores them."""
    seen = Requests(ec2)
    spec = NodeSpec(name="once", size=SMALL, image=image)
    ec2._check_spec(spec)
    first = ec2._create_node(spec)
    second = ec2._create_node(spec)
    assert first.id == second.id
    assert instance_ids(ec2) == {first.id}
    tokens = {p["ClientToken"] for p in seen.actions("RunInstances")}
    assert tokens == {spec.client_token}


def test_unknown_inputs_create_nothing(ec2: EC2ComputeDriver, image: str) -> None:
    seen = Requests(ec2)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"size": "zz.huge"}, "unknown size 'zz.huge'"),
        ({"image": "ami-00000000000000000"}, "unknown image"),
        ({"image": "no-such-image-name"}, "unknown image"),
        ({"location": "us-east-1z"}, "unknown location"),
        ({"key_name": "missing"}, "key pair 'missing' does not exist"),
        ({"extra": {"ImageId": "ami-1"}}, "extra may not set 'ImageId'"),
        ({"name": " "}, "non-empty name"),
    ]
    for change, message in cases:
        args: dict[str, Any] = {"name": "bad", "size": SMALL, "image": image, **change}
        with pytest.raises(errors.ValidationError, match=message):
            ec2.create_node(**args)
    assert seen.actions("RunInstances") == []
    assert instance_ids(ec2) == set()


def test_images_sizes_and_locations(ec2: EC2ComputeDriver, image: str) -> None:
    assert [i.id for i in ec2.list_images()] == [image]
    assert ec2.resolve_image("dc-test-image").id == image  # by name
    seen = Requests(ec2)
    assert ec2.resolve_image(image).name == "dc-test-image"
    assert seen.actions("DescribeImages") == [{"Action": "DescribeImages", "Version": "2016-11-15", "ImageId.1": image}]
    zones = ec2.list_locations()
    assert zones and all(z.id.startswith("us-east-1") for z in zones)
    sizes = {s.id: s for s in ec2.list_sizes()}
    assert sizes["t2.micro"].vcpus == 1 and sizes["t2.micro"].ram_mb == 1024
    assert sizes["t2.micro"].price == ec2_parse.prices()["t2.micro"]["us-east-1"] == 0.0116
    assert set(sizes) == {name for name, _, _ in ec2_parse.SIZES}
    other = ec2.resolve_size("g5.xlarge")  # not in the table, but EC2 knows it
    assert (other.vcpus, other.ram_mb, other.price) == (4, 16384, None)


def test_prices_follow_the_region(moto: Server) -> None:
    with make_driver(moto, region="eu-west-1") as ec2:
        sizes = {s.id: s for s in ec2.list_sizes()}
    assert sizes["t2.micro"].price == ec2_parse.prices()["t2.micro"]["eu-west-1"] != 0.0116


def test_extra_is_passed_through() -> None:
    out: list[tuple[str, str]] = []
    ec2_parse.flatten("SecurityGroupIds", ["sg-1", "sg-2"], out)
    ec2_parse.flatten("SubnetId", "subnet-1", out)
    ec2_parse.flatten("BlockDeviceMappings", [{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 20}}], out)
    ec2_parse.flatten("EbsOptimized", True, out)
    assert out == [
        ("SecurityGroupId.1", "sg-1"),
        ("SecurityGroupId.2", "sg-2"),
        ("SubnetId", "subnet-1"),
        ("BlockDeviceMapping.1.DeviceName", "/dev/sda1"),
        ("BlockDeviceMapping.1.Ebs.VolumeSize", "20"),
        ("EbsOptimized", "true"),
    ]


# ---------------------------------------------------------------------------- bulk
def test_bulk_create_partial_failure_and_rollback(ec2: EC2ComputeDriver, image: str) -> None:
    specs = [NodeSpec(name=f"bulk-{i}", size=SMALL, image=image) for i in range(5)]
    specs[2].extra = {"SubnetId": "subnet-deadbeef"}  # EC2 refuses it: InvalidSubnetID.NotFound
    with pytest.raises(errors.PartialFailure) as caught:
        ec2.create_nodes(specs, concurrency=4)
    failure = caught.value
    assert len(failure.created) == 4 and len(failure.errors) == 1
    assert getattr(failure.errors[0], "code", None) == "InvalidSubnetID.NotFound"
    assert {n.id for n in failure.created} == instance_ids(ec2)
    assert ec2.rollback(failure) == []
    assert instance_ids(ec2) == set() and ec2.list_nodes() == []


# ---------------------------------------------------------------------------- volumes
def test_volume_lifecycle(ec2: EC2ComputeDriver, image: str) -> None:
    node = ec2.create_node("disk-host", SMALL, image, location="us-east-1a")
    volume = ec2.create_volume(3, "data", tags={"team": "db"})
    assert volume.location == "us-east-1a"  # the first zone of the region
    assert (volume.name, volume.size_gb, volume.state, volume.tags) == ("data", 3, "available", {"team": "db"})
    with pytest.raises(errors.NotFound):
        ec2.attach_volume(volume, "i-0123456789abcdef0")
    assert ec2.get_volume(volume.id).node is None  # nothing changed
    attached = ec2.attach_volume(volume, node)
    assert (attached.node, attached.device, attached.state) == (node.id, "/dev/sdf", "in-use")
    with pytest.raises(errors.Conflict):
        ec2.destroy_volume(volume)  # VolumeInUse
    detached = ec2.detach_volume(volume.id)
    assert detached.node is None and detached.state == "available"
    with pytest.raises(errors.Conflict, match="not attached"):
        ec2.detach_volume(volume)
    ec2.destroy_volume(volume)
    assert volume.id not in {v.id for v in ec2.list_volumes()}
    with pytest.raises(errors.NotFound):
        ec2.get_volume(volume.id)


def test_volumes_list_with_page_size(moto: Server) -> None:
    """MaxResults and NextToken are sent (moto 5.2 ignores MaxResults on DescribeVolumes: one page)."""
    requests.post(f"{moto.url}/moto-api/reset", timeout=10)
    with make_driver(moto, page_size=5) as ec2:
        made = {ec2.create_volume(1, f"v{i}", location="us-east-1b").id for i in range(7)}
        seen = Requests(ec2)
        assert {v.id for v in ec2.list_volumes()} == made
        assert seen.actions("DescribeVolumes")[0]["MaxResults"] == "5"


# ---------------------------------------------------------------------------- snapshots
def test_snapshots(ec2: EC2ComputeDriver) -> None:
    volume = ec2.create_volume(2, "source")
    snap = ec2.create_snapshot(volume, "nightly")
    assert (snap.name, snap.volume, snap.size_gb) == ("nightly", volume.id, 2)
    assert snap.id in {s.id for s in ec2.list_snapshots()}
    ec2.destroy_snapshot(snap)
    assert snap.id not in {s.id for s in ec2.list_snapshots()}
    with pytest.raises(errors.NotFound):
        ec2.destroy_snapshot(snap.id)
    with pytest.raises(errors.NotFound):
        ec2.create_snapshot("vol-0123456789abcdef0", "nothing")


# ---------------------------------------------------------------------------- key pairs
#: A throwaway public key (ssh-keygen -t ed25519); its private half was never kept.
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPj07o9HDQ/t05bqrU08C58ctYctPMiyTpoYyQQv9vLQ test@example"


def test_key_pairs(ec2: EC2ComputeDriver) -> None:
    made = ec2.create_key_pair("generated")
    assert made.private_key and "PRIVATE KEY" in made.private_key and made.fingerprint
    assert "PRIVATE" not in repr(made) and made.to_dict()["private_key"] == "<set>"
    with pytest.raises(errors.Conflict):
        ec2.create_key_pair("generated")
    imported = ec2.import_key_pair("imported", PUBLIC_KEY)
    assert imported.name == "imported" and imported.private_key is None and imported.fingerprint
    assert {k.name for k in ec2.list_key_pairs()} == {"generated", "imported"}
    assert ec2.get_key_pair("imported").fingerprint == imported.fingerprint
    ec2.delete_key_pair("generated")
    assert {k.name for k in ec2.list_key_pairs()} == {"imported"}
    with pytest.raises(errors.NotFound):
        ec2.delete_key_pair("generated")
    with pytest.raises(errors.NotFound):
        ec2.get_key_pair("generated")


# ---------------------------------------------------------------------------- tags
def test_update_tags(ec2: EC2ComputeDriver, image: str) -> None:
    node = ec2.create_node("tagged", SMALL, image, tags={"env": "dev", "owner": "ops"})
    ec2.update_tags(node, set={"env": "prod", "tier": "web"}, remove=["owner"])
    assert ec2.get_node(node).tags == {"env": "prod", "tier": "web"}
    volume = ec2.create_volume(1, "tagvol")
    ec2.update_tags(volume.id, set={"backup": "daily"})
    ec2.update_tags(volume.id, remove=["Name"])
    assert ec2.get_volume(volume).tags == {"backup": "daily"}
    seen = Requests(ec2)
    with pytest.raises(errors.NotFound):
        ec2.update_tags("i-0123456789abcdef0", set={"a": "b"})
    with pytest.raises(errors.ValidationError):
        ec2.update_tags("sg-12345", set={"a": "b"})
    assert seen.actions("CreateTags") == []


# ---------------------------------------------------------------------------- errors and retries
class Scripted(HTTPAdapter):
    """Answers the first requests from a script, then passes them on."""

    def __init__(self, script: list[Callable[[requests.PreparedRequest], requests.Response]]) -> None:
        super().__init__()
        self.script = script

    def send(self, request: requests.PreparedRequest, *args: Any, **kw: Any) -> requests.Response:
        if self.script:
            return self.script.pop(0)(request)
        return super().send(request, *args, **kw)


def ec2_error(status: int, code: str) -> Callable[[requests.PreparedRequest], requests.Response]:
    def answer(request: requests.PreparedRequest) -> requests.Response:
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = status, request, request.url or ""
        resp._content = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>scripted {code}</Message></Error></Errors>"
            f"<RequestID>req-{uuid.uuid4().hex[:6]}</RequestID></Response>"
        ).encode()
        return resp

    return answer


def test_request_limit_exceeded_is_retried(ec2: EC2ComputeDriver) -> None:
    adapter = Scripted([ec2_error(400, "RequestLimitExceeded"), ec2_error(503, "Unavailable")])
    ec2.transport.session.mount("http://", adapter)
    ec2.transport.sleep = lambda _s: None
    assert ec2.list_locations()  # two throttled answers, then moto
    ec2.transport.retry.attempts = 1
    adapter.script = [ec2_error(400, "RequestLimitExceeded")]
    with pytest.raises(errors.RateLimited) as caught:
        ec2.list_locations()
    assert caught.value.code == "RequestLimitExceeded" and caught.value.request_id


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("AuthFailure", errors.AuthError),
        ("UnauthorizedOperation", errors.AuthError),
        ("IncorrectState", errors.Conflict),
        ("VolumeInUse", errors.Conflict),
        ("InvalidParameterValue", errors.InvalidRequest),
        ("InvalidInstanceID.Malformed", errors.NotFound),
    ],
)
def test_error_codes_map_onto_the_tree(ec2: EC2ComputeDriver, code: str, cls: type[Exception]) -> None:
    ec2.transport.session.mount("http://", Scripted([ec2_error(400, code)]))
    with pytest.raises(cls):
        ec2.list_locations()


def test_bulk_create_resolves_each_image_once(ec2: EC2ComputeDriver, image: str) -> None:
    actions: list[str] = []

    def record(resp: Any, *args: Any, **kwargs: Any) -> None:
        body = resp.request.body or b""
        text = body.decode() if isinstance(body, bytes) else str(body)
        actions.append(next((p[7:] for p in text.split("&") if p.startswith("Action=")), "?"))

    ec2.transport.session.hooks["response"].append(record)
    ec2.create_nodes([NodeSpec(name=f"bulk-{i}", size=SMALL, image=image) for i in range(6)], concurrency=3)
    assert actions.count("DescribeImages") == 1
    assert actions.count("RunInstances") == 6
