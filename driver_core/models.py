"""Plain data classes for what providers return.

Models hold data only (no driver reference), so they pickle, compare and
serialise cleanly for Salt and Ansible. Anything provider-specific goes in
``extra``. ``to_dict`` gives the JSON-ready form the front ends return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class Model:
    """Shared behaviour of every model."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Enum):
                value = value.value
            elif isinstance(value, list):
                value = [v.to_dict() if isinstance(v, Model) else v for v in value]
            out[f.name] = value
        return out


@dataclass(slots=True)
class Container(Model):
    """A bucket (S3), container (Azure) or folder (local)."""

    name: str
    created: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Object(Model):
    """A stored object.

    ``md5`` is the hex MD5 of the whole content when the provider knows it
    (used to verify downloads and to skip uploads of equal content); ``etag``
    is the provider's own opaque tag.
    """

    name: str
    container: str
    size: int
    md5: str | None = None
    etag: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    modified: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Zone(Model):
    """A DNS zone. ``domain`` is lower case without the trailing dot; ``id`` is the provider's own."""

    domain: str
    id: str
    ttl: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Record(Model):
    """A DNS record set: every value of one ``type`` at one ``name``.

    ``name`` is relative to the zone (``@`` for the apex, ``www``, ``_sip._tcp``);
    ``values`` are in normalised presentation form (see :mod:`driver_core.dnsvalues`),
    sorted, so two record sets compare equal exactly when DNS would serve the same data.
    """

    zone: str
    name: str
    type: str
    ttl: int | None
    values: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fqdn(self) -> str:
        """The absolute name, with the trailing dot."""
        return f"{self.zone}." if self.name == "@" else f"{self.name}.{self.zone}."


class NodeState(str, Enum):
    """The one node-state vocabulary every compute provider maps onto."""

    PENDING = "pending"
    RUNNING = "running"
    REBOOTING = "rebooting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    ERROR = "error"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class Node(Model):
    """A virtual machine (or instance, or domain). ``size``, ``image`` and ``location`` are ids."""

    id: str
    name: str
    state: NodeState
    public_ips: list[str] = field(default_factory=list)
    private_ips: list[str] = field(default_factory=list)
    size: str | None = None
    image: str | None = None
    location: str | None = None
    created: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Size(Model):
    """A machine size (instance type, flavour). ``price`` is hourly in USD when known."""

    id: str
    name: str
    vcpus: int | None = None
    ram_mb: int | None = None
    disk_gb: int | None = None
    price: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Image(Model):
    """A boot image (AMI, template, base volume)."""

    id: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Location(Model):
    """Where resources live (availability zone, region, host)."""

    id: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Volume(Model):
    """A block-storage volume. ``node`` is the id of the node it is attached to, if any."""

    id: str
    name: str
    size_gb: int
    state: str
    location: str | None = None
    node: str | None = None
    device: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Snapshot(Model):
    """A point-in-time copy of a volume."""

    id: str
    name: str
    volume: str | None
    size_gb: int | None
    state: str
    created: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class KeyPair(Model):
    """An SSH key pair. ``private_key`` is only set when the provider generated the pair,
    and never shown by ``repr`` or ``to_dict``."""

    name: str
    fingerprint: str | None = None
    public_key: str | None = None
    private_key: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = Model.to_dict(self)
        out["private_key"] = None if self.private_key is None else "<set>"
        return out


@dataclass(slots=True)
class Member(Model):
    """A load-balancer member: a node, or an address and port."""

    ip: str | None
    port: int
    node: str | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Balancer(Model):
    """A load balancer, presented as one thing whatever the provider needs behind it."""

    id: str
    name: str
    state: str
    port: int
    protocol: str
    algorithm: str | None = None
    address: str | None = None
    members: list[Member] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
