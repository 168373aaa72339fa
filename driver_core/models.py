"""Plain data classes for what providers return.

Models hold data only (no driver reference), so they pickle, compare and
serialise cleanly for Salt and Ansible. Anything provider-specific goes in
``extra``. ``to_dict`` gives the JSON-ready form the front ends return.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Model:
    """Shared behaviour of every model."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
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
