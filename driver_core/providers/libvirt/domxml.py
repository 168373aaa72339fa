"""The domain XML of the libvirt driver: the metadata element driver-core keeps, states, disks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

from ...models import NodeState

#: The namespace of the metadata element driver-core keeps in each domain (prefix :data:`PREFIX`).
NAMESPACE = "urn:x-driver-core:libvirt:1"
PREFIX = "drivercore"
ET.register_namespace(PREFIX, NAMESPACE)
GIB = 1024**3
#: The built-in sizes: name -> (vCPUs, RAM in MiB).
SIZES: dict[str, tuple[int, int]] = {"small": (1, 512), "medium": (2, 2048), "large": (4, 4096), "xlarge": (8, 8192)}
#: virDomainState 0-7 (nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended).
_S = NodeState
STATES = dict(
    enumerate([_S.UNKNOWN, _S.RUNNING, _S.RUNNING, _S.SUSPENDED, _S.STOPPING, _S.STOPPED, _S.ERROR, _S.SUSPENDED])
)
ADDRESS_SOURCES = {"lease": 0, "agent": 1, "arp": 2}
DEVICE = re.compile(r"(xvd|vd|sd|hd)[a-z]{1,2}")
BUSES = {"vd": "virtio", "sd": "scsi", "hd": "ide", "xvd": "xen"}
SNAPSHOT_HINT = "libvirt snapshots are of whole domains, not of volumes"


@dataclass
class _Meta:
    """The driver's metadata element in a domain definition."""

    FIELDS: ClassVar[tuple[str, ...]] = ("token", "size", "image", "location", "root_volume", "created", "user_data")
    token: str | None = None
    size: str | None = None
    image: str | None = None
    location: str | None = None
    root_volume: str | None = None
    created: str | None = None
    user_data: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, domain: ET.Element) -> _Meta:
        meta = cls()
        for child in domain.findall(f"metadata/{{{NAMESPACE}}}instance/*"):
            name = child.tag.rpartition("}")[2].replace("-", "_")
            if name == "tags":
                meta.tags = {tag.get("key", ""): tag.text or "" for tag in child}
            elif name in cls.FIELDS:
                setattr(meta, name, child.text or "")
        return meta

    def xml(self, p: str = "") -> str:
        """With ``p="drivercore:"`` for a domain definition, without for ``setMetadata`` (which adds the prefix)."""
        values = [(f.replace("_", "-"), getattr(self, f)) for f in self.FIELDS]
        parts = "".join(f"<{p}{n}>{escape(v)}</{p}{n}>" for n, v in values if v is not None)
        tags = "".join(f"<{p}tag key={quoteattr(k)}>{escape(v)}</{p}tag>" for k, v in sorted(self.tags.items()))
        declare = f" xmlns:{PREFIX}={quoteattr(NAMESPACE)}" if p else ""
        return f"<{p}instance{declare}>{parts}<{p}tags>{tags}</{p}tags></{p}instance>"


def _positive(value: Any) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(value)
    return int(value)


def _disk_source(disk: ET.Element) -> str | None:
    """What a ``<disk>`` is backed by: a path, or ``volume:<pool>/<volume>``."""
    src = disk.find("source")
    if src is not None and src.get("pool") and src.get("volume"):
        return f"volume:{src.get('pool')}/{src.get('volume')}"
    return None if src is None else src.get("file") or src.get("dev")


def _target(disk: ET.Element) -> str | None:
    target = disk.find("target")
    return None if target is None else target.get("dev")
