"""Amazon Route 53 as a :class:`~driver_core.dns.DNSDriver` (REST/XML API 2013-04-01).

Requests are signed with the project's SigV4 signer for service ``route53`` in
``us-east-1`` (Route 53 is global). Every write is a ChangeResourceRecordSets
batch, which Route 53 applies atomically; batches above Route 53's limits are
split into several calls, in order. Names arrive absolute, with octal escapes
(``\\052`` for ``*``); values are put in the normal form of
:mod:`driver_core.dnsvalues`. Alias and routing-policy record sets keep their
Route 53 elements (``AliasTarget``, ``SetIdentifier``, ``Weight``...) in ``extra``.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from ... import dnsvalues
from ...dns import DNSDriver
from ...errors import Conflict, InvalidRequest, NotFound, ProviderError, RateLimited, ValidationError
from ...models import Record, Zone
from ...profiles import ConnectionOptions
from ...transport import paginate
from ...xmlutil import parse, text
from . import common

API_VERSION = "2013-04-01"
XMLNS = f"https://route53.amazonaws.com/doc/{API_VERSION}/"
DEFAULT_ENDPOINT = "https://route53.amazonaws.com"
SIGNING_REGION = "us-east-1"
#: Route 53's limits per ChangeResourceRecordSets call (an UPSERT counts twice in both).
MAX_BATCH_RECORDS = 1000
MAX_BATCH_CHARS = 32000
MAX_ZONE_PAGE = 100  # ListHostedZones
MAX_RECORD_PAGE = 300  # ListResourceRecordSets

CODE_MAP: dict[str, type[ProviderError]] = {
    **common.COMMON_CODES,
    "NoSuchHostedZone": NotFound,
    "NoSuchChange": NotFound,
    "HostedZoneAlreadyExists": Conflict,
    "ConflictingDomainExists": Conflict,
    "HostedZoneNotEmpty": Conflict,
    "InvalidChangeBatch": InvalidRequest,
    "InvalidInput": InvalidRequest,
    "InvalidDomainName": InvalidRequest,
    "PriorRequestNotComplete": RateLimited,
}
#: The children of a ResourceRecordSet, in the order Route 53's schema wants them.
_RRSET_ORDER = (
    "Name", "Type", "SetIdentifier", "Weight", "Region", "GeoLocation", "Failover", "MultiValueAnswer", "TTL",
    "ResourceRecords", "AliasTarget", "HealthCheckId", "TrafficPolicyInstanceId", "CidrRoutingConfig",
    "GeoProximityLocation",
)  # fmt: skip
_OWN = frozenset({"Name", "Type", "TTL", "ResourceRecords"})
_OCTAL = re.compile(r"\\([0-7]{3})")
#: Where raw values are kept when Route 53 stores them differently from their normal form,
#: so a DELETE can quote them exactly.
RAW_VALUES = "route53_values"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def unescape_name(name: str) -> str:
    """A name as Route 53 returns it, with ``\\ddd`` octal escapes decoded (``\\052`` is ``*``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), name)


def txt_from_wire(value: str) -> str:
    """A TXT value from Route 53: octal escapes (UTF-8 bytes) decoded, ``\\"`` and ``\\\\`` kept."""
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "\\" and _OCTAL.match(value, i):
            out.append(int(value[i + 1 : i + 4], 8))
            i += 4
        elif value[i] == "\\" and i + 1 < len(value):
            out += value[i : i + 2].encode("utf-8")
            i += 2
        else:
            out += value[i].encode("utf-8")
            i += 1
    return out.decode("utf-8", errors="replace")


def txt_to_wire(value: str) -> str:
    """A normalised TXT value as Route 53 takes it: bytes outside printable ASCII as ``\\ddd``."""
    return "".join(c if " " <= c <= "~" else "".join(f"\\{b:03o}" for b in c.encode("utf-8")) for c in value)


def _wire(rtype: str, values: list[str]) -> list[str]:
    return [txt_to_wire(v) for v in values] if rtype == "TXT" else list(values)


def _plain(el: ET.Element) -> Any:
    """An element as JSON-ready data: its text, or a dict of its children."""
    return {child.tag: _plain(child) for child in el} if len(el) else (el.text or "")


def _add(parent: ET.Element, tag: str, value: Any) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _add(child, key, inner)
    else:
        child.text = str(value).lower() if isinstance(value, bool) else str(value)


def _bytes(el: ET.Element) -> bytes:
    data: bytes = ET.tostring(el, encoding="utf-8")  # UTF-8: no XML declaration of its own
    return data


def _document(root: str, children: dict[str, Any]) -> bytes:
    el = ET.Element(root, xmlns=XMLNS)
    for tag, value in children.items():
        _add(el, tag, value)
    return _DECLARATION + _bytes(el)


@dataclass(slots=True)
class _Change:
    """One Change of a batch, serialised, with what it costs against Route 53's limits."""

    xml: bytes
    records: int
    chars: int


def _make_change(action: str, rrset: ET.Element) -> _Change:
    values = [v.text or "" for v in rrset.iterfind("ResourceRecords/ResourceRecord/Value")]
    weight = 2 if action == "UPSERT" else 1
    return _Change(
        b"<Change><Action>" + action.encode() + b"</Action>" + _bytes(rrset) + b"</Change>",
        max(1, len(values)) * weight,
        sum(len(v) for v in values) * weight,
    )


def batches(changes: list[_Change]) -> Iterator[list[_Change]]:
    """Changes in order, cut into batches within Route 53's limits (an oversized change goes alone)."""
    batch: list[_Change] = []
    records = chars = 0
    for change in changes:
        if batch and (records + change.records > MAX_BATCH_RECORDS or chars + change.chars > MAX_BATCH_CHARS):
            yield batch
            batch, records, chars = [], 0, 0
        batch.append(change)
        records += change.records
        chars += change.chars
    if batch:
        yield batch


class Route53DNSDriver(DNSDriver):
    """Route 53 hosted zones and record sets. Options: ``page_size`` (at most 300), ``retries``."""

    provider: ClassVar[str] = "aws"
    max_page_size: ClassVar[int] = MAX_RECORD_PAGE

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        endpoint = common.endpoint_url(options.endpoint or DEFAULT_ENDPOINT, self.provider)
        self.base_url = f"{endpoint}/{API_VERSION}"
        signer = common.signer_for(options, self.provider, SIGNING_REGION, "route53", what="Route 53")
        self.transport = self._make_transport(signer=signer, error_parser=common.error_info, code_map=CODE_MAP)

    def _call(
        self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: bytes | None = None
    ) -> ET.Element:
        headers = {"Content-Type": "application/xml"} if body is not None else None
        resp = self.transport.request(method, self.base_url + path, query=query, headers=headers, body=body)
        return parse(resp.content, self.provider)

    # ------------------------------------------------------------------ zones
    def _zone_from(self, el: ET.Element) -> Zone:
        name = unescape_name(text(el, "Name") or "")
        try:
            domain = dnsvalues.domain(name)
        except ValidationError:  # a name Route 53 allows but the normal form does not
            domain = name.rstrip(".").lower()
        count = text(el, "ResourceRecordSetCount")
        return Zone(
            domain=domain,
            id=(text(el, "Id") or "").rpartition("/")[2],
            extra={
                "private": (text(el, "Config/PrivateZone") or "false").lower() == "true",
                "record_count": int(count) if count else None,
                "caller_reference": text(el, "CallerReference"),
                "comment": text(el, "Config/Comment"),
            },
        )

    def iterate_zones(self) -> Iterator[Zone]:
        """Every hosted zone, public and private, across all pages."""

        def fetch(marker: str | None) -> tuple[list[Zone], str | None]:
            query = [("maxitems", str(min(self.page_size, MAX_ZONE_PAGE)))]
            if marker:
                query.append(("marker", marker))
            root = self._call("GET", "/hostedzone", query)
            zones = [self._zone_from(el) for el in root.iterfind("HostedZones/HostedZone")]
            truncated = (text(root, "IsTruncated") or "false").lower() == "true"
            return zones, text(root, "NextMarker") if truncated else None

        return paginate(fetch)

    def _lookup(self, domain: str) -> Zone | None:
        root = self._call("GET", "/hostedzonesbyname", [("dnsname", domain), ("maxitems", "1")])
        for el in root.iterfind("HostedZones/HostedZone"):
            zone = self._zone_from(el)
            return zone if zone.domain == domain else None  # the first zone at or after the name
        return None

    def get_zone(self, domain: str) -> Zone:
        """The hosted zone for ``domain``, in one request; :class:`NotFound` if none."""
        wanted = dnsvalues.domain(domain)
        zone = self._lookup(wanted)
        if zone is None:
            raise NotFound(f"zone {wanted!r} does not exist", provider=self.provider)
        return zone

    def _create_zone(self, domain: str, ttl: int) -> Zone:
        return self._create(domain)  # Route 53 zones have no default TTL: record sets carry their own

    def ex_create_private_zone(self, domain: str, vpc_id: str, vpc_region: str) -> Zone:
        """Create a private hosted zone associated with one VPC; :class:`Conflict` when the domain exists."""
        vpc = {"VPCRegion": vpc_region, "VPCId": vpc_id}
        return self._create(dnsvalues.domain(domain), vpc, {"PrivateZone": True})

    def _create(self, domain: str, vpc: dict[str, str] | None = None, config: dict[str, Any] | None = None) -> Zone:
        # Route 53 allows several zones of one name; the contract does not.
        if self._lookup(domain) is not None:
            raise Conflict(f"zone {domain!r} already exists", provider=self.provider)
        # One reference per call: the transport's retries resend it, so Route 53 never makes two zones.
        reference = f"driver-core-{uuid.uuid4()}"
        request: dict[str, Any] = {"Name": domain, "VPC": vpc, "CallerReference": reference, "HostedZoneConfig": config}
        body = _document("CreateHostedZoneRequest", {k: v for k, v in request.items() if v})  # in schema order
        try:
            root = self._call("POST", "/hostedzone", body=body)
        except Conflict as exc:
            if exc.code == "HostedZoneAlreadyExists":  # an earlier attempt of this call made it
                zone = self._lookup(domain)
                if zone is not None and zone.extra["caller_reference"] == reference:
                    return zone
            raise
        el = root.find("HostedZone")
        if el is None:
            raise ProviderError("Route 53 answered CreateHostedZone without a HostedZone", provider=self.provider)
        return self._zone_from(el)

    def _delete_zone(self, zone: Zone) -> None:
        # Route 53 refuses to delete a zone holding more than its SOA and apex NS: empty it first.
        apex = f"{zone.domain}."
        doomed = [
            _make_change("DELETE", el)
            for el in self._rrsets(zone)
            if not (
                text(el, "Type") == "SOA"
                or (text(el, "Type") == "NS" and unescape_name(text(el, "Name") or "").lower() == apex)
            )
        ]
        self._send(zone, doomed)
        self._call("DELETE", f"/hostedzone/{zone.id}")

    # ---------------------------------------------------------------- records
    def _rrsets(
        self, zone: Zone, *, start: tuple[str, str] | None = None, limit: int | None = None
    ) -> Iterator[ET.Element]:
        """The raw ResourceRecordSet elements of a zone, across all pages."""

        def fetch(token: tuple[str, str, str | None] | None) -> tuple[list[ET.Element], Any]:
            query = [("maxitems", str(limit or self.page_size))]
            if token:
                query += [("name", token[0]), ("type", token[1])]
                if token[2]:
                    query.append(("identifier", token[2]))
            root = self._call("GET", f"/hostedzone/{zone.id}/rrset", query)
            items = list(root.iterfind("ResourceRecordSets/ResourceRecordSet"))
            if limit or (text(root, "IsTruncated") or "false").lower() != "true":
                return items, None
            return items, (
                text(root, "NextRecordName"),
                text(root, "NextRecordType"),
                text(root, "NextRecordIdentifier"),
            )

        return paginate(fetch, start=(*start, None) if start else None)

    def _record_from(self, zone: Zone, el: ET.Element) -> Record | None:
        rtype = text(el, "Type") or ""
        if rtype == "SOA":
            return None
        name = unescape_name(text(el, "Name") or "")
        try:
            relative = dnsvalues.relative_name(name, zone.domain)
        except ValidationError:  # a name the normal form does not allow: keep Route 53's spelling
            relative = name.lower().rstrip(".").removesuffix(f".{zone.domain}") or "@"
        ttl = text(el, "TTL")
        raw = [v.text or "" for v in el.iterfind("ResourceRecords/ResourceRecord/Value")]
        extra = {child.tag: _plain(child) for child in el if child.tag not in _OWN}
        values = raw
        if raw and rtype in dnsvalues.RECORD_TYPES:
            try:
                values = dnsvalues.values(rtype, [txt_from_wire(v) for v in raw] if rtype == "TXT" else raw)
            except ValidationError:
                values = sorted(raw)
        if _wire(rtype, values) != raw:
            extra[RAW_VALUES] = raw
        if ttl is None or "AliasTarget" in extra:  # an alias has no TTL of its own (moto reports 0)
            return Record(zone=zone.domain, name=relative, type=rtype, ttl=None, values=values, extra=extra)
        return Record(zone=zone.domain, name=relative, type=rtype, ttl=int(ttl), values=values, extra=extra)

    def _iterate_records(self, zone: Zone) -> Iterator[Record]:
        for el in self._rrsets(zone):
            record = self._record_from(zone, el)
            if record is not None:
                yield record

    def _soa(self, zone: Zone) -> str | None:
        for el in self._rrsets(zone, start=(f"{zone.domain}.", "SOA"), limit=1):
            value = text(el, "ResourceRecords/ResourceRecord/Value")
            if text(el, "Type") == "SOA" and value and len(value.split()) == 7:
                return value
        return None

    def _rrset_element(self, record: Record, *, delete: bool) -> ET.Element:
        el = ET.Element("ResourceRecordSet")
        values = record.extra.get(RAW_VALUES) if delete else None
        values = list(values) if values is not None else _wire(record.type, record.values)
        for tag in _RRSET_ORDER:
            if tag == "Name":
                _add(el, tag, record.fqdn)
            elif tag == "Type":
                _add(el, tag, record.type)
            elif tag == "TTL" and values and record.ttl is not None:
                _add(el, tag, record.ttl)
            elif tag == "ResourceRecords" and values:
                rrs = ET.SubElement(el, tag)
                for value in values:
                    _add(rrs, "ResourceRecord", {"Value": value})
            elif tag not in _OWN and tag in record.extra:
                _add(el, tag, record.extra[tag])
        return el

    def _change(self, zone: Zone, *, upserts: list[Record], deletes: list[Record]) -> None:
        """Deletes then upserts, in one ChangeResourceRecordSets call unless Route 53's limits split it."""
        for record in (*deletes, *upserts):
            if record.zone != zone.domain:
                raise ValidationError(
                    f"record {record.fqdn!r} belongs to zone {record.zone!r}, not {zone.domain!r}",
                    provider=self.provider,
                )
            if not record.values and "AliasTarget" not in record.extra:
                raise ValidationError(f"record {record.fqdn!r} has no values", provider=self.provider)
        changes = [_make_change("DELETE", self._rrset_element(r, delete=True)) for r in deletes]
        changes += [_make_change("UPSERT", self._rrset_element(r, delete=False)) for r in upserts]
        self._send(zone, changes)

    def _send(self, zone: Zone, changes: list[_Change]) -> None:
        for batch in batches(changes):
            body = (
                _DECLARATION
                + f'<ChangeResourceRecordSetsRequest xmlns="{XMLNS}"><ChangeBatch><Changes>'.encode()
                + b"".join(c.xml for c in batch)
                + b"</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
            )
            self._call("POST", f"/hostedzone/{zone.id}/rrset", body=body)
