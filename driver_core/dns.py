"""The DNS contract shared by every DNS provider.

A record is a record set: a name, a type, a TTL and a list of values. The base
class validates and normalises every name and value (:mod:`driver_core.dnsvalues`),
decides what a create, update or delete means (create of an existing set is a
Conflict, update or delete of a missing one is NotFound), and turns zone files
into batches of changes. A provider implements the zone primitives and one
batched ``_change`` call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

from . import dnsvalues, zonefile
from .base import Driver
from .errors import Conflict, NotFound
from .models import Record, Zone
from .profiles import ConnectionOptions
from .storage import name_of

ZoneRef = Zone | str
DEFAULT_TTL = 3600


class DNSDriver(Driver):
    """Base of every DNS driver. Safe to share between threads."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"zones", "records", "bind_export", "bind_import"})
    record_types: ClassVar[tuple[str, ...]] = dnsvalues.RECORD_TYPES
    default_page_size: ClassVar[int] = 100
    max_page_size: ClassVar[int] = 1000

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.page_size = self._int_option("page_size", self.default_page_size, 1, self.max_page_size)

    def list_record_types(self) -> list[str]:
        return list(self.record_types)

    # ------------------------------------------------------------------ zones
    def iterate_zones(self) -> Iterator[Zone]:
        """Every zone, across all pages."""
        raise self.not_supported("iterate_zones")

    def list_zones(self) -> list[Zone]:
        return list(self.iterate_zones())

    def get_zone(self, domain: str) -> Zone:
        """The zone for ``domain`` (with or without the trailing dot); :class:`NotFound` if none."""
        wanted = dnsvalues.domain(domain)
        for zone in self.iterate_zones():
            if zone.domain == wanted:
                return zone
        raise NotFound(f"zone {wanted!r} does not exist", provider=self.provider)

    def create_zone(self, domain: str, *, ttl: int | None = None) -> Zone:
        """Create a zone; :class:`Conflict` when it exists."""
        name = dnsvalues.domain(domain)
        zone_ttl = dnsvalues.ttl(ttl, DEFAULT_TTL)
        return self._create_zone(name, DEFAULT_TTL if zone_ttl is None else zone_ttl)

    def delete_zone(self, zone: ZoneRef) -> None:
        """Delete a zone and every record in it; :class:`NotFound` when it does not exist."""
        self._delete_zone(self._zone(zone))

    def _zone(self, ref: ZoneRef) -> Zone:
        return ref if isinstance(ref, Zone) else self.get_zone(name_of(ref))

    # ---------------------------------------------------------------- records
    def iterate_records(self, zone: ZoneRef) -> Iterator[Record]:
        """Every record set of the zone (SOA excepted), across all pages."""
        return self._iterate_records(self._zone(zone))

    def list_records(self, zone: ZoneRef) -> list[Record]:
        return list(self.iterate_records(zone))

    def get_record(self, zone: ZoneRef, name: str, type: str) -> Record:
        return self._get_record(self._zone(zone), name, type)

    def _get_record(self, z: Zone, name: str, type: str) -> Record:
        rname, rtype = dnsvalues.relative_name(name, z.domain), dnsvalues.record_type(type)
        found = self._find(z, rname, rtype)
        if found is None:
            raise NotFound(f"no {rtype} record {rname!r} in zone {z.domain!r}", provider=self.provider)
        return found

    def _find(self, zone: Zone, name: str, rtype: str) -> Record | None:
        for record in self._iterate_records(zone):
            if record.name == name and record.type == rtype:
                return record
        return None

    def record(self, zone: Zone, name: str, type: str, values: Sequence[str] | str, ttl: int | None = None) -> Record:
        """A validated, normalised record set for ``zone`` (nothing is sent)."""
        rtype = dnsvalues.record_type(type)
        if rtype not in self.record_types:
            raise self.not_supported(f"{rtype} records")
        return Record(
            zone=zone.domain,
            name=dnsvalues.relative_name(name, zone.domain),
            type=rtype,
            ttl=dnsvalues.ttl(ttl, zone.ttl or DEFAULT_TTL),
            values=dnsvalues.values(rtype, values),
        )

    def create_record(
        self, zone: ZoneRef, name: str, type: str, values: Sequence[str] | str, *, ttl: int | None = None
    ) -> Record:
        """Create a record set; :class:`Conflict` when one of that name and type exists."""
        z = self._zone(zone)
        record = self.record(z, name, type, values, ttl)
        if self._find(z, record.name, record.type) is not None:
            raise Conflict(
                f"a {record.type} record {record.name!r} already exists in zone {z.domain!r}; update it instead",
                provider=self.provider,
            )
        self._change(z, upserts=[record], deletes=[])
        return record

    def update_record(
        self, zone: ZoneRef, name: str, type: str, values: Sequence[str] | str, *, ttl: int | None = None
    ) -> Record:
        """Replace the values of an existing record set, and its TTL when ``ttl`` is given
        (otherwise the TTL stays as it is); :class:`NotFound` when missing."""
        z = self._zone(zone)
        record = self.record(z, name, type, values, ttl)
        current = self._find(z, record.name, record.type)
        if current is None:
            raise NotFound(
                f"no {record.type} record {record.name!r} in zone {z.domain!r}; create it first",
                provider=self.provider,
            )
        if ttl is None and current.ttl is not None:
            record.ttl = current.ttl
        self._change(z, upserts=[record], deletes=[])
        return record

    def delete_record(self, zone: ZoneRef, name: str, type: str) -> None:
        """Delete a record set; :class:`NotFound` when missing."""
        z = self._zone(zone)
        self._change(z, upserts=[], deletes=[self._get_record(z, name, type)])

    # ------------------------------------------------------------- zone files
    def export_bind(self, zone: ZoneRef) -> str:
        """The zone as a standard BIND zone file (with an SOA record and ``$ORIGIN``)."""
        z = self._zone(zone)
        return zonefile.write(z.domain, list(self._iterate_records(z)), soa=self._soa(z), default_ttl=z.ttl)

    def import_bind(self, zone: ZoneRef, text: str, *, replace: bool = False) -> list[Record]:
        """Write every record set of a BIND zone file into the zone, in one batch where the
        provider allows. SOA records are skipped (the provider keeps its own). With ``replace``,
        record sets the file does not have are deleted (apex NS excepted)."""
        z = self._zone(zone)
        parsed = zonefile.read(text, z.domain)
        wanted = [self.record(z, r.name, r.type, r.values, r.ttl) for r in parsed if r.type != "SOA"]
        deletes: list[Record] = []
        if replace:
            keep = {(r.name, r.type) for r in wanted}
            deletes = [
                r
                for r in self._iterate_records(z)
                if (r.name, r.type) not in keep and not (r.name == "@" and r.type == "NS")
            ]
        self._change(z, upserts=wanted, deletes=deletes)
        return wanted

    # ----------------------------------------------- primitives for providers
    def _soa(self, zone: Zone) -> str | None:
        """The SOA value for exports (None: the zone-file writer makes one up)."""
        return None

    def _create_zone(self, domain: str, ttl: int) -> Zone:
        raise self.not_supported("create_zone")

    def _delete_zone(self, zone: Zone) -> None:
        raise self.not_supported("delete_zone")

    def _iterate_records(self, zone: Zone) -> Iterator[Record]:
        raise self.not_supported("iterate_records")

    def _change(self, zone: Zone, *, upserts: list[Record], deletes: list[Record]) -> None:
        """Apply upserts (create or replace whole record sets) and deletes, in one batch if possible."""
        raise self.not_supported("create_record")
