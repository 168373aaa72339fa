"""The PowerDNS driver against a real PowerDNS Authoritative server on loopback.

Every record written through the driver is also asked for over real DNS (``dig``),
so these tests check what PowerDNS serves, not only what its API hands back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from driver_core import dnsvalues, errors
from driver_core.models import Record, Zone
from driver_core.profiles import ConnectionOptions
from driver_core.providers.powerdns.dns import PowerDNSDriver
from tests import backends
from tests.backends import Server
from tests.dns_samples import SAMPLES
from tests.pdns_backend import dig, start_powerdns


def new_domain() -> str:
    return f"dc-{uuid.uuid4().hex[:10]}.test"


@pytest.fixture(scope="module")
def pdns() -> Iterator[Server]:
    yield from backends.serve(start_powerdns)


def make_driver(server: Server, **options: Any) -> PowerDNSDriver:
    secret = options.pop("secret", server.env["api_key"])
    return PowerDNSDriver(ConnectionOptions("powerdns", secret=secret, endpoint=server.url, options=options))


@pytest.fixture
def dns(pdns: Server) -> Iterator[PowerDNSDriver]:
    with make_driver(pdns) as driver:
        yield driver


@pytest.fixture
def zone(dns: PowerDNSDriver) -> Iterator[Zone]:
    made = dns.create_zone(new_domain(), ttl=300)
    yield made
    try:
        dns.delete_zone(made)
    except errors.NotFound:
        pass


def served(server: Server, record: Record) -> list[str]:
    """What PowerDNS answers over DNS for ``record``'s name and type, normalised (sorted) like the driver does."""
    delegation = record.type == "NS" and record.name != "@"
    answer = dig(server.env["dns_port"], record.fqdn, record.type, authority=delegation)
    return dnsvalues.values(record.type, answer) if answer else []


# ------------------------------------------------------------------------- zones
def test_zone_lifecycle(dns: PowerDNSDriver, pdns: Server) -> None:
    domain = new_domain()
    created = dns.create_zone(domain, ttl=600)
    assert (created.domain, created.id, created.ttl) == (domain, f"{domain}.", 600)
    got = dns.get_zone(domain.upper() + ".")
    assert (got.id, got.ttl, got.extra["kind"]) == (created.id, 600, "Native")
    assert domain in [z.domain for z in dns.list_zones()]
    assert dns.list_records(domain) == [Record(domain, "@", "NS", 600, [f"ns1.{domain}."])]
    soa = dig(pdns.env["dns_port"], domain, "SOA")
    assert len(soa) == 1 and soa[0].startswith(f"ns1.{domain}. hostmaster.{domain}. ")
    with pytest.raises(errors.Conflict, match="already exists"):
        dns.create_zone(domain)
    dns.delete_zone(domain)
    with pytest.raises(errors.NotFound):
        dns.get_zone(domain)
    with pytest.raises(errors.NotFound):
        dns.delete_zone(created)
    with pytest.raises(errors.NotFound):
        dns.list_records(domain)
    with pytest.raises(errors.NotFound):
        dns.create_record(domain, "www", "A", "192.0.2.1")


def test_default_ttl_and_invalid_zone_names(dns: PowerDNSDriver) -> None:
    zone = dns.create_zone(new_domain())
    try:
        assert dns.get_zone(zone.domain).ttl == 3600
        assert dns.create_record(zone, "www", "A", "192.0.2.1").ttl == 3600
    finally:
        dns.delete_zone(zone)
    for bad in ("", "exa mple.test", "../etc/passwd", "a..b.test", "-bad.test"):
        with pytest.raises(errors.ValidationError):
            dns.create_zone(bad)


def test_listings_past_one_page(pdns: Server) -> None:
    with make_driver(pdns, page_size=2) as dns:
        zones = [dns.create_zone(new_domain(), ttl=300) for _ in range(5)]
        try:
            listed = [z.domain for z in dns.iterate_zones()]
            assert all(z.domain in listed for z in zones) and len(listed) == len(set(listed))
            for i in range(7):
                dns.create_record(zones[0], f"host{i}", "A", [f"192.0.2.{i + 1}"])
            names = [(r.name, r.type) for r in dns.iterate_records(zones[0])]
            assert names == [("@", "NS")] + [(f"host{i}", "A") for i in range(7)]
        finally:
            for z in zones:
                dns.delete_zone(z)


def test_wrong_server_id_is_not_found(pdns: Server) -> None:
    with make_driver(pdns, server_id="nope") as dns, pytest.raises(errors.NotFound):
        dns.list_zones()


# ----------------------------------------------------------------------- records
@pytest.mark.parametrize("rtype", dnsvalues.RECORD_TYPES)
def test_record_set_lifecycle_and_dns_answers(dns: PowerDNSDriver, pdns: Server, zone: Zone, rtype: str) -> None:
    name, values, replacement = SAMPLES[rtype]
    created = dns.create_record(zone, name, rtype, list(reversed(values)), ttl=120)
    assert created.values == dnsvalues.values(rtype, values) and created.ttl == 120
    assert len(created.values) == len(set(SAMPLES[rtype][1]))  # several values wherever DNS allows them
    got = dns.get_record(zone.domain, created.fqdn, rtype)
    assert (got.name, got.ttl, got.values) == (name, 120, created.values)
    assert served(pdns, got) == created.values
    with pytest.raises(errors.Conflict):
        dns.create_record(zone, name, rtype, values)

    updated = dns.update_record(zone, name, rtype, replacement, ttl=600)
    got = dns.get_record(zone, name, rtype)
    assert (got.ttl, got.values) == (600, updated.values) == (600, dnsvalues.values(rtype, replacement))
    assert served(pdns, got) == got.values

    dns.delete_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, name, rtype)
    assert served(pdns, got) == []
    with pytest.raises(errors.NotFound):
        dns.delete_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.update_record(zone, name, rtype, values)


def test_txt_quotes_and_spaces_are_served_as_written(dns: PowerDNSDriver, pdns: Server, zone: Zone) -> None:
    raw = ['"v=spf1 include:_spf.example.net -all"', 'a "quoted" word', "back\\slash", "x" * 300]
    record = dns.create_record(zone, "@", "TXT", raw)
    assert served(pdns, record) == record.values == dns.get_record(zone, "@", "TXT").values
    assert dig(pdns.env["dns_port"], zone.domain, "TXT").count('"a \\"quoted\\" word"') == 1


def test_serial_is_bumped_by_every_change(dns: PowerDNSDriver, pdns: Server, zone: Zone) -> None:
    serials = [dns.ex_serial(zone)]
    dns.create_record(zone, "www", "A", ["192.0.2.1", "192.0.2.2"])
    serials.append(dns.ex_serial(zone))
    dns.update_record(zone, "www", "A", ["192.0.2.3"])
    serials.append(dns.ex_serial(zone))
    dns.delete_record(zone, "www", "A")
    serials.append(dns.ex_serial(zone))
    numbers = [s for s in serials if isinstance(s, int)]
    assert numbers == sorted(set(numbers)) and len(numbers) == 4, serials  # strictly increasing
    over_dns = dig(pdns.env["dns_port"], zone.domain, "SOA")[0].split()[2]
    assert int(over_dns) == numbers[-1]


def test_names_in_every_form_address_one_record(dns: PowerDNSDriver, pdns: Server, zone: Zone) -> None:
    dns.create_record(zone, f"WWW.{zone.domain.upper()}.", "A", "192.0.2.1")
    for form in ("www", f"www.{zone.domain}", f"www.{zone.domain}.", "Www"):
        assert dns.get_record(zone, form, "a").values == ["192.0.2.1"]
    wildcard = dns.create_record(zone, "*.apps", "A", ["192.0.2.9"])
    assert dig(pdns.env["dns_port"], f"anything.apps.{zone.domain}", "A") == wildcard.values


class Recorder:
    """Wraps a transport's ``request`` and records each method and URL."""

    def __init__(self, dns: PowerDNSDriver) -> None:
        self.calls: list[tuple[str, str]] = []
        self.inner = dns.transport.request
        dns.transport.request = self  # type: ignore[method-assign]

    def __call__(self, method: str, url: str, **kw: Any) -> Any:
        self.calls.append((method, url))
        return self.inner(method, url, **kw)


def test_bad_records_are_refused_before_sending(dns: PowerDNSDriver, zone: Zone) -> None:
    before = dns.list_records(zone)
    recorder = Recorder(dns)
    cases = [
        ("www.elsewhere.example.", "A", ["192.0.2.1"]),
        ("www", "A", ["not-an-ip"]),
        ("www", "A", ["192.0.2.1", "2001:db8::1"]),
        ("www", "A", ["192.0.2.256"]),
        ("mail", "MX", ["mail.example.net"]),
        ("alias", "CNAME", ["a.example.net", "b.example.net"]),
        ("www", "HINFO", ["x"]),
        ("bad name", "A", ["192.0.2.1"]),
    ]
    for name, rtype, values in cases:
        with pytest.raises(errors.ValidationError):
            dns.create_record(zone, name, rtype, values)
    assert recorder.calls == []  # a Zone object needs no lookup: nothing at all was sent
    with pytest.raises(errors.ValidationError, match="outside the zone"):
        dns.create_record(zone.domain, "www.elsewhere.example.", "A", "192.0.2.1")
    assert [m for m, _ in recorder.calls] == ["GET"]  # only the zone lookup
    assert dns.list_records(zone) == before


def test_out_of_zone_answer_is_a_clear_invalid_request(dns: PowerDNSDriver, zone: Zone) -> None:
    rrset = {
        "name": "www.elsewhere.example.",
        "type": "A",
        "ttl": 60,
        "changetype": "REPLACE",
        "records": [{"content": "192.0.2.1", "disabled": False}],
    }
    with pytest.raises(errors.InvalidRequest, match="outside the zone") as caught:
        dns._request("PATCH", dns._zone_path(zone.id), "change records", payload={"rrsets": [rrset]})
    assert caught.value.status == 422


def test_cname_beside_other_data_is_an_invalid_request(dns: PowerDNSDriver, zone: Zone) -> None:
    dns.create_record(zone, "www", "A", "192.0.2.1")
    with pytest.raises(errors.InvalidRequest) as caught:
        dns.create_record(zone, "www", "CNAME", "target.example.net.")
    assert caught.value.status == 422 and zone.domain in str(caught.value)


def test_one_batch_merges_and_replaces(dns: PowerDNSDriver, pdns: Server, zone: Zone) -> None:
    dns.create_record(zone, "old", "A", "192.0.2.50")
    recorder = Recorder(dns)
    first = dns.record(zone, "multi", "A", ["192.0.2.1"], 60)
    second = dns.record(zone, "multi", "A", ["192.0.2.2"], 60)
    old = dns.get_record(zone, "old", "A")
    recorder.calls.clear()
    dns._change(zone, upserts=[first, second], deletes=[old])
    assert [m for m, _ in recorder.calls] == ["PATCH"]
    assert dns.get_record(zone, "multi", "A").values == ["192.0.2.1", "192.0.2.2"]
    assert served(pdns, first) == ["192.0.2.1", "192.0.2.2"]
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, "old", "A")
    recorder.calls.clear()
    dns._change(zone, upserts=[], deletes=[])
    assert recorder.calls == []


# ---------------------------------------------------------------- credentials
def test_wrong_api_key_is_an_auth_error_without_the_key(pdns: Server, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    with make_driver(pdns, secret=wrong) as dns:
        assert wrong not in repr(dns) and wrong not in repr(dns.transport.signer)
        with pytest.raises(errors.AuthError) as caught:
            dns.list_zones()
    assert caught.value.status == 401 and "API key" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)
    assert wrong not in caplog.text
    with make_driver(pdns) as dns:
        dns.list_zones()
    assert pdns.env["api_key"] not in caplog.text


def test_missing_options_are_clear() -> None:
    with pytest.raises(errors.ValidationError, match="PDNS_API_URL"):
        PowerDNSDriver(ConnectionOptions("powerdns", secret="x"))
    with pytest.raises(errors.ValidationError, match="PDNS_API_KEY"):
        PowerDNSDriver(ConnectionOptions("powerdns", endpoint="http://127.0.0.1:8081"))
    driver = PowerDNSDriver(ConnectionOptions("powerdns", secret="x", endpoint="http://127.0.0.1:8081/api/v1/"))
    assert driver.base == "http://127.0.0.1:8081/api/v1/servers/localhost"


# ------------------------------------------------------------------ zone files
def test_bind_round_trip(dns: PowerDNSDriver, pdns: Server, zone: Zone) -> None:
    for rtype, (name, values, _) in SAMPLES.items():
        dns.create_record(zone, name, rtype, values, ttl=300)
    dns.create_record(zone, "www", "TXT", ['"hello; world"'], ttl=60)
    original = {(r.name, r.type): (r.ttl, r.values) for r in dns.iterate_records(zone)}
    text = dns.export_bind(zone)
    assert f"$ORIGIN {zone.domain}." in text and " SOA " in text
    assert f"ns1.{zone.domain}." in text  # the server's own SOA, not a made-up one
    for name, rtype in original:
        if (name, rtype) != ("@", "NS"):
            dns.delete_record(zone, name, rtype)
    dns.import_bind(zone, text)
    restored = {(r.name, r.type): (r.ttl, r.values) for r in dns.iterate_records(zone)}
    assert restored == original
    for record in dns.iterate_records(zone):
        assert served(pdns, record) == record.values, record
    dns.import_bind(zone, f"$ORIGIN {zone.domain}.\n$TTL 300\nnew IN A 192.0.2.51\n", replace=True)
    assert [(r.name, r.type) for r in dns.iterate_records(zone)] == [("@", "NS"), ("new", "A")]
