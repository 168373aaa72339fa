"""The DNS conformance suite: the same tests for every DNS provider.

Each test runs once per provider: aws (Route 53 on moto), powerdns (a real PowerDNS
authoritative server) and local (zone files in a temporary folder).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from driver_core import errors

SAMPLES = {
    "A": ["192.0.2.10", "192.0.2.11"],
    "AAAA": ["2001:db8::10", "2001:db8::11"],
    "CNAME": ["target.example.net."],
    "MX": ["10 mx1.example.net.", "20 mx2.example.net."],
    "TXT": ['"v=spf1 include:_spf.example.net -all"', '"second value with \\"quotes\\""'],
    "SRV": ["10 5 5060 sip1.example.net.", "20 5 5060 sip2.example.net."],
    "CAA": ['0 issue "letsencrypt.org"', '0 iodef "mailto:security@example.net"'],
    "NS": ["ns1.delegated.example.net.", "ns2.delegated.example.net."],
}
NAMES = {
    "A": "www",
    "AAAA": "www",
    "CNAME": "alias",
    "MX": "@",
    "TXT": "@",
    "SRV": "_sip._tcp",
    "CAA": "@",
    "NS": "delegated",
}


def new_domain() -> str:
    return f"dc-{uuid.uuid4().hex[:10]}.test"


@pytest.fixture
def zone(dns: Any) -> Any:
    return dns.create_zone(new_domain(), ttl=300)


def test_zone_lifecycle(dns: Any) -> None:
    domain = new_domain()
    created = dns.create_zone(domain)
    assert created.domain == domain
    assert dns.get_zone(domain.upper() + ".").id == created.id
    assert domain in [z.domain for z in dns.list_zones()]
    with pytest.raises(errors.Conflict):
        dns.create_zone(domain)
    dns.delete_zone(domain)
    with pytest.raises(errors.NotFound):
        dns.get_zone(domain)
    with pytest.raises(errors.NotFound):
        dns.delete_zone(domain)


@pytest.mark.parametrize("bad", ["", "exa mple.test", "../etc/passwd", "a..b.test", "-bad.test", "x" * 64 + ".test"])
def test_invalid_zone_names(dns: Any, bad: str) -> None:
    before = [z.domain for z in dns.list_zones()]
    with pytest.raises(errors.ValidationError):
        dns.create_zone(bad)
    assert [z.domain for z in dns.list_zones()] == before


@pytest.mark.parametrize("rtype", sorted(SAMPLES))
def test_record_set_lifecycle(dns: Any, zone: Any, rtype: str) -> None:
    name, values = NAMES[rtype], SAMPLES[rtype][: 1 if rtype == "CNAME" else 2]
    created = dns.create_record(zone, name, rtype, list(reversed(values)), ttl=120)
    assert (created.name, created.type, created.ttl, created.values) == (name, rtype, 120, sorted(values))
    got = dns.get_record(zone.domain, name if name != "@" else f"{zone.domain}.", rtype)
    assert (got.ttl, got.values) == (120, sorted(values))
    assert (name, rtype) in [(r.name, r.type) for r in dns.iterate_records(zone)]
    with pytest.raises(errors.Conflict):
        dns.create_record(zone, name, rtype, values)
    fewer = values[:1]
    dns.update_record(zone, name, rtype, fewer)  # no TTL given: the TTL stays
    assert (dns.get_record(zone, name, rtype).ttl, dns.get_record(zone, name, rtype).values) == (120, fewer)
    dns.update_record(zone, name, rtype, fewer, ttl=600)
    got = dns.get_record(zone, name, rtype)
    assert (got.ttl, got.values) == (600, fewer)
    dns.delete_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.delete_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.update_record(zone, name, rtype, values)


def test_name_forms_address_the_same_record(dns: Any, zone: Any) -> None:
    dns.create_record(zone, f"WWW.{zone.domain.upper()}", "A", "192.0.2.1")
    for form in ("www", f"www.{zone.domain}", f"www.{zone.domain}.", "Www"):
        assert dns.get_record(zone, form, "a").values == ["192.0.2.1"]
    dns.create_record(zone, "*.apps", "A", ["192.0.2.9"])
    assert dns.get_record(zone, f"*.apps.{zone.domain}.", "A").name == "*.apps"


def test_bad_records_are_refused_and_nothing_is_written(dns: Any, zone: Any) -> None:
    before = dns.list_records(zone)
    cases = [
        ("www.elsewhere.example.", "A", ["192.0.2.1"]),
        ("www", "A", ["not-an-ip"]),
        ("www", "A", ["192.0.2.1", "2001:db8::1"]),
        ("www", "AAAA", ["192.0.2.1"]),
        ("mail", "MX", ["mail.example.net"]),
        ("alias", "CNAME", ["a.example.net", "b.example.net"]),
        ("www", "HINFO", ["x"]),
        ("bad name", "A", ["192.0.2.1"]),
    ]
    for name, rtype, values in cases:
        with pytest.raises(errors.ValidationError):
            dns.create_record(zone, name, rtype, values)
    assert dns.list_records(zone) == before


def test_missing_zone(dns: Any) -> None:
    missing = new_domain()
    with pytest.raises(errors.NotFound):
        dns.list_records(missing)
    with pytest.raises(errors.NotFound):
        dns.create_record(missing, "www", "A", ["192.0.2.1"])


def test_listing_past_one_page(dns_factory: Any) -> None:
    dns = dns_factory(page_size=2)
    domains = sorted(new_domain() for _ in range(5))
    zones = [dns.create_zone(d) for d in domains]
    listed = [z.domain for z in dns.iterate_zones()]
    assert all(d in listed for d in domains)
    assert len(listed) == len(set(listed))
    zone = zones[0]
    before = {(r.name, r.type) for r in dns.iterate_records(zone)}
    for i in range(7):
        dns.create_record(zone, f"host{i}", "A", [f"192.0.2.{i + 1}"])
    records = {(r.name, r.type) for r in dns.iterate_records(zone)}
    assert records == before | {(f"host{i}", "A") for i in range(7)}


def test_bind_round_trip(dns: Any, zone: Any) -> None:
    for rtype, values in SAMPLES.items():
        dns.create_record(zone, NAMES[rtype], rtype, values[: 1 if rtype == "CNAME" else 2], ttl=300)
    dns.create_record(zone, "www", "TXT", ['"hello; world"'], ttl=60)
    original = {(r.name, r.type): (r.ttl, r.values) for r in dns.iterate_records(zone)}
    text = dns.export_bind(zone)
    assert f"$ORIGIN {zone.domain}." in text and " SOA " in text
    for name, rtype in original:
        if not (name == "@" and rtype == "NS"):
            dns.delete_record(zone, name, rtype)
    dns.import_bind(zone, text)
    restored = {(r.name, r.type): (r.ttl, r.values) for r in dns.iterate_records(zone)}
    assert restored == original


def test_import_replace_removes_what_the_file_lacks(dns: Any, zone: Any) -> None:
    dns.create_record(zone, "old", "A", ["192.0.2.50"])
    text = f"$ORIGIN {zone.domain}.\n$TTL 300\nnew IN A 192.0.2.51\n"
    dns.import_bind(zone, text, replace=True)
    names = {(r.name, r.type) for r in dns.iterate_records(zone)}
    assert ("new", "A") in names and ("old", "A") not in names
    with pytest.raises(errors.ValidationError):
        dns.import_bind(zone, "$ORIGIN other.example.\nwww 300 IN A 192.0.2.1\n")
