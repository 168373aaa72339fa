"""PowerDNS Authoritative over its HTTP API v1 (``/api/v1/servers/{server_id}/zones``).

Everything the DNS contract decides (names, values, what create/update/delete
mean, zone files) lives in :class:`driver_core.dns.DNSDriver`; this module only
speaks the API: one GET per zone for its record sets, one PATCH per batch of
changes (``REPLACE`` for upserts, ``DELETE`` for deletes), and zones created with
``soa_edit_api=DEFAULT`` so PowerDNS bumps the SOA serial on every API change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import requests

from ... import dnsvalues
from ...dns import DEFAULT_TTL, DNSDriver
from ...errors import AuthError, Conflict, InvalidRequest, NotFound, ProviderError, ValidationError
from ...models import Record, Zone
from ...profiles import ConnectionOptions
from ...transport import ErrorInfo, Request, paginate_sequence

T = TypeVar("T")
#: Words PowerDNS uses in a 422 answer when a record name lies outside the zone.
_OUT_OF_ZONE = ("out of zone", "is not in zone", "not in zone")
#: SOA timers of a new zone: refresh, retry, expire (the minimum is the zone's TTL).
_SOA_TIMERS = "10800 3600 604800"


def parse_error(resp: requests.Response) -> ErrorInfo:
    """The message of a PowerDNS error answer: JSON ``{"error": ...}`` or a plain-text reason."""
    message = ""
    try:
        data = resp.json()
    except ValueError:
        message = resp.text[:300].strip()
    else:
        if isinstance(data, dict):
            message = str(data.get("error") or "")
            extra = data.get("errors")
            if isinstance(extra, list) and extra:
                message = "; ".join([message, *map(str, extra)]) if message else "; ".join(map(str, extra))
    return ErrorInfo(None, message or resp.reason or f"HTTP {resp.status_code}")


class ApiKeySigner:
    """Adds the ``X-API-Key`` header to every attempt (the transport never logs its value)."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: Request) -> None:
        request.headers["X-API-Key"] = self._key

    def __repr__(self) -> str:
        return "ApiKeySigner(<redacted>)"


class PowerDNSDriver(DNSDriver):
    """PowerDNS Authoritative Server through its HTTP API.

    Connection options: ``endpoint`` is the API base URL (``http://127.0.0.1:8081``,
    with or without ``/api/v1``), ``secret`` the API key (``api-key`` in pdns.conf);
    ``options.server_id`` picks the server (default ``localhost``), ``options.page_size``
    how many zones or record sets each page of a listing holds.
    """

    provider: ClassVar[str] = "powerdns"

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        if not options.endpoint:
            raise ValidationError(
                "PowerDNS needs the API base URL: endpoint=... (or PDNS_API_URL), e.g. http://127.0.0.1:8081",
                provider=self.provider,
            )
        if not options.secret:
            raise ValidationError(
                "PowerDNS needs the API key (api-key in pdns.conf): secret=... (or PDNS_API_KEY)",
                provider=self.provider,
            )
        endpoint = options.endpoint.strip().rstrip("/")
        if not endpoint.startswith(("http://", "https://")):
            raise ValidationError(
                f"the PowerDNS endpoint must be an http(s) URL, not {endpoint!r}", provider=self.provider
            )
        for suffix in ("/api/v1", "/api"):
            endpoint = endpoint.removesuffix(suffix)
        self.endpoint = endpoint
        self.server_id = str(self.options.options.get("server_id") or "localhost")
        self.base = f"{endpoint}/api/v1/servers/{quote(self.server_id, safe='')}"
        self.transport = self._make_transport(signer=ApiKeySigner(options.secret), error_parser=parse_error)

    def __repr__(self) -> str:
        return f"PowerDNSDriver(endpoint={self.endpoint!r}, server_id={self.server_id!r})"

    # ---------------------------------------------------------------- requests
    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        query: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> requests.Response:
        """Send one API request; an error says what was being done (``what``) before PowerDNS's words."""
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode("utf-8")
        try:
            return self.transport.request(method, f"{self.base}{path}", query=query, headers=headers, body=body)
        except AuthError as exc:
            raise exc.reworded(
                f"{what}: PowerDNS refused the API key; check secret= (or PDNS_API_KEY) against api-key in pdns.conf"
            ) from None
        except InvalidRequest as exc:
            if exc.status == 422 and any(w in exc.message.lower() for w in _OUT_OF_ZONE):
                raise exc.reworded(f"{what}: a record name lies outside the zone ({exc.message})") from None
            raise exc.reworded(f"{what}: {exc.message}") from None
        except ProviderError as exc:
            raise exc.reworded(f"{what}: {exc.message}") from None

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ProviderError(
                f"{what}: PowerDNS answered with something that is not JSON",
                provider=self.provider,
                status=resp.status_code,
            ) from None

    @staticmethod
    def _zone_path(zone_id: str) -> str:
        return f"/zones/{quote(zone_id, safe='.=')}"

    def _zone_from(self, data: dict[str, Any], ttl: int | None = None) -> Zone:
        keys = ("kind", "serial", "edited_serial", "notified_serial", "dnssec", "account", "masters", "url")
        name = str(data["name"])
        try:
            domain = dnsvalues.domain(name)
        except ValidationError:  # a zone made by other tools (e.g. RFC 2317 "0/26.2.0.192.in-addr.arpa")
            domain = name.rstrip(".").lower()
        return Zone(
            domain=domain,
            id=str(data.get("id") or data["name"]),
            ttl=ttl,
            extra={k: data[k] for k in keys if k in data},
        )

    @staticmethod
    def _soa_rrset(data: dict[str, Any]) -> dict[str, Any] | None:
        for rrset in data.get("rrsets") or ():
            if rrset.get("type") == "SOA":
                return dict(rrset)
        return None

    # ------------------------------------------------------------------- zones
    def iterate_zones(self) -> Iterator[Zone]:
        """Every zone of the server (PowerDNS lists them in one answer, handed out ``page_size`` at a time)."""
        resp = self._request("GET", "/zones", "list zones")
        zones = [self._zone_from(z) for z in self._json(resp, "list zones")]
        return paginate_sequence(zones, self.page_size)

    def _get_zone_data(self, domain: str, what: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            resp = self._request("GET", self._zone_path(f"{domain}."), what, query=query)
        except NotFound as exc:
            raise exc.reworded(f"zone {domain!r} does not exist") from None
        except InvalidRequest as exc:  # PowerDNS before 4.2 answered 422 for a missing zone
            if exc.status != 422:
                raise
            raise NotFound(f"zone {domain!r} does not exist", provider=self.provider, status=422) from None
        data = self._json(resp, what)
        if not isinstance(data, dict):
            raise ProviderError(f"{what}: unexpected answer from PowerDNS", provider=self.provider)
        return data

    def get_zone(self, domain: str) -> Zone:
        """The zone for ``domain``; :class:`NotFound` if none. ``ttl`` is the TTL of its SOA record."""
        name = dnsvalues.domain(domain)
        data = self._get_zone_data(name, f"get zone {name!r}", {"rrset_name": f"{name}.", "rrset_type": "SOA"})
        soa = self._soa_rrset(data)
        return self._zone_from(data, int(soa["ttl"]) if soa and "ttl" in soa else None)

    def _create_zone(self, domain: str, ttl: int) -> Zone:
        fqdn = f"{domain}."
        soa = f"ns1.{fqdn} hostmaster.{fqdn} 0 {_SOA_TIMERS} {min(ttl, DEFAULT_TTL)}"
        payload = {
            "name": fqdn,
            "kind": "Native",
            # The apex NS (ns1.<domain>.) goes in as an rrset rather than "nameservers" so it gets the zone's TTL.
            "nameservers": [],
            "soa_edit_api": "DEFAULT",
            "rrsets": [
                {"name": fqdn, "type": "SOA", "ttl": ttl, "records": [{"content": soa, "disabled": False}]},
                {"name": fqdn, "type": "NS", "ttl": ttl, "records": [{"content": f"ns1.{fqdn}", "disabled": False}]},
            ],
        }
        try:
            resp = self._request("POST", "/zones", f"create zone {domain!r}", payload=payload)
        except Conflict as exc:
            raise exc.reworded(f"zone {domain!r} already exists on the PowerDNS server") from None
        return self._zone_from(self._json(resp, f"create zone {domain!r}"), ttl)

    def _delete_zone(self, zone: Zone) -> None:
        try:
            self._request("DELETE", self._zone_path(zone.id), f"delete zone {zone.domain!r}")
        except NotFound as exc:
            raise exc.reworded(f"zone {zone.domain!r} does not exist") from None

    # ----------------------------------------------------------------- records
    def _rrsets(self, zone: Zone) -> list[dict[str, Any]]:
        data = self._get_zone_data(zone.domain, f"list records of zone {zone.domain!r}")
        return list(data.get("rrsets") or ())

    def _iterate_records(self, zone: Zone) -> Iterator[Record]:
        records = [r for r in (self._record_from(zone, s) for s in self._rrsets(zone)) if r is not None]
        records.sort(key=lambda r: (r.name != "@", r.name, r.type))
        return paginate_sequence(records, self.page_size)

    def _record_from(self, zone: Zone, rrset: dict[str, Any]) -> Record | None:
        """A record set from an rrset of the API; None for SOA, unsupported types and all-disabled sets."""
        rtype = str(rrset.get("type", "")).upper()
        if rtype == "SOA" or rtype not in self.record_types:
            return None
        entries = rrset.get("records") or []
        contents = [str(e.get("content", "")) for e in entries if not e.get("disabled")]
        if not contents:
            return None
        extra: dict[str, Any] = {}
        disabled = [str(e.get("content", "")) for e in entries if e.get("disabled")]
        if disabled:
            extra["disabled"] = disabled
        if rrset.get("comments"):
            extra["comments"] = rrset["comments"]
        try:
            values = dnsvalues.values(rtype, contents)
        except ValidationError:  # data written by other tools: show it as it is rather than fail the listing
            values, extra["unnormalised"] = sorted(set(contents)), True
        return Record(
            zone=zone.domain,
            name=dnsvalues.relative_name(str(rrset["name"]), zone.domain),
            type=rtype,
            ttl=int(rrset["ttl"]) if rrset.get("ttl") is not None else None,
            values=values,
            extra=extra,
        )

    def _change(self, zone: Zone, *, upserts: list[Record], deletes: list[Record]) -> None:
        """One PATCH: ``REPLACE`` for each upsert, ``DELETE`` for each delete (absolute names, trailing dots).

        Two upserts of one name and type (a zone file listing a set over several lines) are merged;
        an upsert wins over a delete of the same set.
        """
        rrsets: dict[tuple[str, str], dict[str, Any]] = {}
        for record in deletes:
            fqdn = self._fqdn(zone, record.name)
            rrsets[(fqdn, record.type)] = {"name": fqdn, "type": record.type, "changetype": "DELETE"}
        merged: dict[tuple[str, str], Record] = {}
        for record in upserts:
            key = (self._fqdn(zone, record.name), record.type)
            if key in merged:
                first = merged[key]
                values = dnsvalues.values(record.type, [*first.values, *record.values])
                record = Record(first.zone, first.name, first.type, first.ttl, values, dict(first.extra))
            merged[key] = record
        for (fqdn, rtype), record in merged.items():
            rrsets[(fqdn, rtype)] = {
                "name": fqdn,
                "type": rtype,
                "ttl": record.ttl if record.ttl is not None else (zone.ttl or DEFAULT_TTL),
                "changetype": "REPLACE",
                "records": [{"content": v, "disabled": False} for v in record.values],
            }
        if not rrsets:
            return
        what = f"change records of zone {zone.domain!r}"
        try:
            self._request("PATCH", self._zone_path(zone.id), what, payload={"rrsets": list(rrsets.values())})
        except NotFound as exc:
            raise exc.reworded(f"{what}: the zone does not exist") from None

    @staticmethod
    def _fqdn(zone: Zone, name: str) -> str:
        return f"{zone.domain}." if name == "@" else f"{name}.{zone.domain}."

    def _soa(self, zone: Zone) -> str | None:
        """The SOA content PowerDNS serves for the zone (its serial is bumped on every API change)."""
        query = {"rrset_name": f"{zone.domain}.", "rrset_type": "SOA"}
        soa = self._soa_rrset(self._get_zone_data(zone.domain, f"get the SOA of zone {zone.domain!r}", query))
        records = [r for r in (soa or {}).get("records") or () if not r.get("disabled")]
        return str(records[0]["content"]) if records else None

    def ex_serial(self, zone: Zone | str) -> int | None:
        """The zone's current SOA serial."""
        soa = self._soa(self._zone(zone))
        return int(soa.split()[2]) if soa and len(soa.split()) > 2 else None
