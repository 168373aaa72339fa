"""What the EC2 driver needs besides requests: the size table, query flattening and response parsing.

EC2's Query API answers in XML (namespaces are stripped by :func:`driver_core.xmlutil.parse`);
the functions here turn its elements into the project's models. Nothing here sends a request.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from ...codec import parse_time
from ...errors import ValidationError
from ...models import Image, KeyPair, Location, Node, NodeState, Size, Snapshot, Volume
from ...xmlutil import text

#: Common instance types: (id, vCPUs, memory in MiB). ``scripts/update_pricing.py`` extracts
#: the prices of exactly these types into ``driver_core/data/ec2_prices.json``.
SIZES: tuple[tuple[str, int, int], ...] = (
    ("t2.nano", 1, 512), ("t2.micro", 1, 1024), ("t2.small", 1, 2048), ("t2.medium", 2, 4096),
    ("t2.large", 2, 8192), ("t2.xlarge", 4, 16384), ("t2.2xlarge", 8, 32768),
    ("t3.nano", 2, 512), ("t3.micro", 2, 1024), ("t3.small", 2, 2048), ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192), ("t3.xlarge", 4, 16384), ("t3.2xlarge", 8, 32768),
    ("t3a.nano", 2, 512), ("t3a.micro", 2, 1024), ("t3a.small", 2, 2048), ("t3a.medium", 2, 4096),
    ("t3a.large", 2, 8192), ("t3a.xlarge", 4, 16384), ("t3a.2xlarge", 8, 32768),
    ("t4g.nano", 2, 512), ("t4g.micro", 2, 1024), ("t4g.small", 2, 2048), ("t4g.medium", 2, 4096),
    ("t4g.large", 2, 8192), ("t4g.xlarge", 4, 16384), ("t4g.2xlarge", 8, 32768),
    ("m5.large", 2, 8192), ("m5.xlarge", 4, 16384), ("m5.2xlarge", 8, 32768), ("m5.4xlarge", 16, 65536),
    ("m6i.large", 2, 8192), ("m6i.xlarge", 4, 16384), ("m6i.2xlarge", 8, 32768), ("m6i.4xlarge", 16, 65536),
    ("m6g.medium", 1, 4096), ("m6g.large", 2, 8192), ("m6g.xlarge", 4, 16384), ("m6g.2xlarge", 8, 32768),
    ("m7g.medium", 1, 4096), ("m7g.large", 2, 8192), ("m7g.xlarge", 4, 16384), ("m7g.2xlarge", 8, 32768),
    ("c5.large", 2, 4096), ("c5.xlarge", 4, 8192), ("c5.2xlarge", 8, 16384), ("c5.4xlarge", 16, 32768),
    ("c6i.large", 2, 4096), ("c6i.xlarge", 4, 8192), ("c6i.2xlarge", 8, 16384), ("c6i.4xlarge", 16, 32768),
    ("c6g.medium", 1, 2048), ("c6g.large", 2, 4096), ("c6g.xlarge", 4, 8192), ("c6g.2xlarge", 8, 16384),
    ("c7g.medium", 1, 2048), ("c7g.large", 2, 4096), ("c7g.xlarge", 4, 8192), ("c7g.2xlarge", 8, 16384),
    ("r5.large", 2, 16384), ("r5.xlarge", 4, 32768), ("r5.2xlarge", 8, 65536), ("r5.4xlarge", 16, 131072),
    ("r6i.large", 2, 16384), ("r6i.xlarge", 4, 32768), ("r6i.2xlarge", 8, 65536), ("r6i.4xlarge", 16, 131072),
    ("r6g.medium", 1, 8192), ("r6g.large", 2, 16384), ("r6g.xlarge", 4, 32768), ("r6g.2xlarge", 8, 65536),
)  # fmt: skip

#: EC2 instance states onto the one node-state vocabulary.
STATES: dict[str, NodeState] = {
    "pending": NodeState.PENDING,
    "running": NodeState.RUNNING,
    "stopping": NodeState.STOPPING,
    "shutting-down": NodeState.STOPPING,
    "stopped": NodeState.STOPPED,
    "terminated": NodeState.TERMINATED,
}


@lru_cache(maxsize=1)
def prices() -> dict[str, dict[str, float]]:
    """Hourly Linux on-demand prices by instance type and region, from the bundled file (read once)."""
    raw = resources.files("driver_core.data").joinpath("ec2_prices.json").read_text(encoding="utf-8")
    table: dict[str, dict[str, float]] = json.loads(raw)["prices"]
    return table


def sizes(region: str) -> list[Size]:
    """The static size table with the prices of ``region`` (``None`` where the data has none)."""
    table = prices()
    return [
        Size(id=name, name=name, vcpus=vcpus, ram_mb=ram, price=table.get(name, {}).get(region))
        for name, vcpus, ram in SIZES
    ]


def flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Add ``value`` to ``out`` as EC2 Query parameters under ``prefix``.

    Lists become ``Name.1, Name.2...`` (a plural boto-style name loses its ``s``:
    ``SecurityGroupIds`` is sent as ``SecurityGroupId.N``), dicts become ``Name.Key``,
    booleans ``true``/``false``.
    """
    if isinstance(value, Mapping):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}", inner, out)
    elif isinstance(value, (list, tuple)):
        head, dot, last = prefix.rpartition(".")
        if last.endswith("s") and not last.endswith("ss"):
            prefix = f"{head}{dot}{last[:-1]}"
        for index, inner in enumerate(value, 1):
            flatten(f"{prefix}.{index}", inner, out)
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    elif value is None:
        raise ValidationError(f"extra parameter {prefix!r} has no value", provider="aws")
    else:
        out.append((prefix, str(value)))


def tag_params(prefix: str, tags: Mapping[str, str], *, keys_only: bool = False) -> list[tuple[str, str]]:
    """``Tag.N.Key``/``Tag.N.Value`` parameters under ``prefix`` (``Tag`` or ``TagSpecification.1.Tag``)."""
    params: list[tuple[str, str]] = []
    for index, (key, value) in enumerate(tags.items(), 1):
        params.append((f"{prefix}.{index}.Key", key))
        if not keys_only:
            params.append((f"{prefix}.{index}.Value", value))
    return params


def tag_spec(resource_type: str, tags: Mapping[str, str], index: int = 1) -> list[tuple[str, str]]:
    """A ``TagSpecification.N`` for one resource type (nothing when there are no tags)."""
    if not tags:
        return []
    head = f"TagSpecification.{index}"
    return [(f"{head}.ResourceType", resource_type), *tag_params(f"{head}.Tag", tags)]


def tags_of(el: ET.Element) -> dict[str, str]:
    return {text(t, "key") or "": text(t, "value") or "" for t in el.iterfind("tagSet/item")}


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags a user manages: ``Name`` is the resource's name, not one of its tags."""
    return {k: v for k, v in tags.items() if k != "Name"}


def node_from(el: ET.Element) -> Node:
    """A Node from an ``instancesSet/item``."""
    tags = tags_of(el)
    state = text(el, "instanceState/name") or ""
    return Node(
        id=text(el, "instanceId") or "",
        name=tags.get("Name", ""),
        state=STATES.get(state, NodeState.UNKNOWN),
        public_ips=[ip for ip in [text(el, "ipAddress")] if ip],
        private_ips=[ip for ip in [text(el, "privateIpAddress")] if ip],
        size=text(el, "instanceType"),
        image=text(el, "imageId"),
        location=text(el, "placement/availabilityZone"),
        created=parse_time(text(el, "launchTime")),
        tags=user_tags(tags),
        extra={
            "ec2_state": state,
            "key_name": text(el, "keyName"),
            "client_token": text(el, "clientToken"),
            "vpc_id": text(el, "vpcId"),
            "subnet_id": text(el, "subnetId"),
            "security_groups": [g for g in (text(i, "groupId") for i in el.iterfind("groupSet/item")) if g],
            "architecture": text(el, "architecture"),
            "public_dns": text(el, "dnsName"),
            "private_dns": text(el, "privateDnsName"),
        },
    )


def image_from(el: ET.Element) -> Image:
    image_id = text(el, "imageId") or ""
    return Image(
        id=image_id,
        name=text(el, "name") or image_id,
        extra={
            "owner": text(el, "imageOwnerId"),
            "state": text(el, "imageState"),
            "architecture": text(el, "architecture"),
            "description": text(el, "description"),
            "public": (text(el, "isPublic") or "false") == "true",
            "root_device": text(el, "rootDeviceName"),
        },
    )


def location_from(el: ET.Element) -> Location:
    zone = text(el, "zoneName") or ""
    return Location(
        id=zone,
        name=zone,
        extra={"zone_id": text(el, "zoneId"), "state": text(el, "zoneState"), "region": text(el, "regionName")},
    )


def volume_from(el: ET.Element) -> Volume:
    tags = tags_of(el)
    attached = el.find("attachmentSet/item")
    volume_id = text(el, "volumeId") or ""
    return Volume(
        id=volume_id,
        name=tags.get("Name", ""),
        size_gb=int(text(el, "size") or 0),
        state=text(el, "status") or "unknown",
        location=text(el, "availabilityZone"),
        node=text(attached, "instanceId"),
        device=text(attached, "device"),
        tags=user_tags(tags),
        extra={
            "volume_type": text(el, "volumeType"),
            "snapshot_id": text(el, "snapshotId") or None,
            "encrypted": (text(el, "encrypted") or "false") == "true",
            "created": text(el, "createTime"),
            "attachment_state": text(attached, "status"),
        },
    )


def snapshot_from(el: ET.Element) -> Snapshot:
    tags = tags_of(el)
    size = text(el, "volumeSize")
    return Snapshot(
        id=text(el, "snapshotId") or "",
        name=tags.get("Name") or text(el, "description") or "",
        volume=text(el, "volumeId"),
        size_gb=int(size) if size else None,
        state=text(el, "status") or "unknown",
        created=parse_time(text(el, "startTime")),
        extra={"description": text(el, "description"), "progress": text(el, "progress"), "tags": tags},
    )


def key_pair_from(el: ET.Element) -> KeyPair:
    return KeyPair(
        name=text(el, "keyName") or "",
        fingerprint=text(el, "keyFingerprint"),
        public_key=text(el, "publicKey"),
        private_key=text(el, "keyMaterial"),
        extra={"key_pair_id": text(el, "keyPairId"), "key_type": text(el, "keyType")},
    )
