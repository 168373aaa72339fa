"""The Route 53 driver against a real moto server (and one that verifies SigV4 signatures)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from driver_core import dnsvalues, errors, zonefile
from driver_core.models import Record, Zone
from driver_core.profiles import ConnectionOptions
from driver_core.providers.aws import common
from driver_core.providers.aws import dns as r53
from driver_core.providers.aws.dns import Route53DNSDriver
from tests.backends import Server
from tests.dns_samples import SAMPLES


def new_domain() -> str:
    return f"dc-{uuid.uuid4().hex[:10]}.test"


def make_driver(server: Server, **options: Any) -> Route53DNSDriver:
    key = options.pop("key", "testing-key")
    secret = options.pop("secret", "testing-secret")
    return Route53DNSDriver(ConnectionOptions("aws", key=key, secret=secret, endpoint=server.url, options=options))


@pytest.fixture
def dns(moto: Server) -> Iterator[Route53DNSDriver]:
    requests.post(f"{moto.url}/moto-api/reset", timeout=10)
    with make_driver(moto) as driver:
        yield driver


@pytest.fixture
def zone(dns: Route53DNSDriver) -> Zone:
    return dns.create_zone(new_domain())


class Requests:
    """Counts the HTTP requests a driver sends (a response hook on its session)."""

    def __init__(self, driver: Route53DNSDriver) -> None:
        self.seen: list[tuple[str, str]] = []
        driver.transport.session.hooks["response"].append(self._hook)

    def _hook(self, resp: requests.Response, *args: Any, **kw: Any) -> None:
        self.seen.append((resp.request.method or "", resp.request.path_url))

    def count(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, p in self.seen if m == method and re.search(pattern, p))


class Scripted(HTTPAdapter):
    """Answers requests from a script first (a response or an exception), then passes them on."""

    def __init__(self, script: list[Callable[[requests.PreparedRequest], Any]]) -> None:
        super().__init__()
        self.script = script
        self.bodies: list[bytes] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kw: Any) -> requests.Response:
        self.bodies.append(request.body if isinstance(request.body, bytes) else b"")
        if self.script:
            outcome = self.script.pop(0)(request)
            if isinstance(outcome, Exception):
                raise outcome
            if outcome is not None:
                return outcome  # type: ignore[no-any-return]
        return super().send(request, *args, **kw)


def canned(status: int, code: str, message: str) -> Callable[[requests.PreparedRequest], requests.Response]:
    def answer(request: requests.PreparedRequest) -> requests.Response:
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = status, request, request.url or ""
        resp.headers["Content-Type"] = "text/xml"
        resp._content = (
            f'<ErrorResponse xmlns="{r53.XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
        ).encode()
        return resp

    return answer


# ---------------------------------------------------------------------------- credentials
def test_missing_credentials_are_a_clear_error(moto: Server) -> None:
    with pytest.raises(errors.ValidationError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        Route53DNSDriver(ConnectionOptions("aws", endpoint=moto.url))
    with pytest.raises(errors.ValidationError, match="AWS_SECRET_ACCESS_KEY"):
        Route53DNSDriver(ConnectionOptions("aws", key="only-a-key", endpoint=moto.url))


def test_signatures_verified_by_moto(moto_auth: Server) -> None:
    """With signature checking on, moto accepts our SigV4 scope (route53, us-east-1)."""
    with make_driver(moto_auth, key=moto_auth.env["key"], secret=moto_auth.env["secret"]) as dns:
        domain = new_domain()
        created = dns.create_zone(domain)
        assert created.id in [z.id for z in dns.list_zones()]
        dns.create_record(created, "www", "A", ["192.0.2.1"])
        assert dns.get_record(domain, "www", "A").values == ["192.0.2.1"]
        dns.delete_zone(domain)
    with make_driver(moto_auth, key=moto_auth.env["key"], secret="wrong") as bad, pytest.raises(errors.AuthError):
        bad.list_zones()


# --------------------------------------------------------------------------------- zones
def test_zones_created_got_and_listed_across_pages(moto: Server, dns: Route53DNSDriver) -> None:
    domains = sorted(new_domain() for _ in range(5))
    created = {d: dns.create_zone(d) for d in domains}
    paged = make_driver(moto, page_size=2)
    sent = Requests(paged)
    zones = paged.list_zones()
    assert sorted(z.domain for z in zones) == domains
    assert sent.count("GET", r"/hostedzone\?") == 3  # 2 + 2 + 1
    for zone in zones:
        assert zone.id == created[zone.domain].id and "/" not in zone.id
        assert zone.extra["private"] is False and zone.extra["record_count"] == 2  # SOA and NS
    got = dns.get_zone(domains[2].upper() + ".")
    assert (got.domain, got.id) == (domains[2], created[domains[2]].id)


def test_private_and_public_zones_are_listed(dns: Route53DNSDriver) -> None:
    public = dns.create_zone(new_domain())
    private = dns.ex_create_private_zone(new_domain(), "vpc-12345678", "us-east-1")
    assert private.extra["private"] is True
    listed = {z.id: z.extra["private"] for z in dns.list_zones()}
    assert listed == {public.id: False, private.id: True}


def test_duplicate_and_missing_zones(dns: Route53DNSDriver, zone: Zone) -> None:
    with pytest.raises(errors.Conflict):
        dns.create_zone(zone.domain.upper())
    assert [z.domain for z in dns.list_zones()] == [zone.domain]
    with pytest.raises(errors.NotFound):
        dns.get_zone(f"sub.{zone.domain}")
    with pytest.raises(errors.NotFound):
        dns.list_records(Zone(domain="gone.test", id="NOSUCHZONE"))


def test_create_zone_retry_reuses_the_caller_reference(moto: Server, dns: Route53DNSDriver) -> None:
    """The first attempt reaches Route 53 but its answer is lost; the retry carries the same
    CallerReference, Route 53 answers HostedZoneAlreadyExists, and the zone made is returned."""
    domain = new_domain()
    lost: list[requests.Response] = []

    def forward_then_lose(request: requests.PreparedRequest) -> Exception:
        lost.append(HTTPAdapter().send(request, timeout=10))
        return requests.exceptions.ConnectionError("connection reset")

    script = [lambda r: None, forward_then_lose, canned(409, "HostedZoneAlreadyExists", "already created")]
    adapter = Scripted(script)  # the lookup passes, the create is lost, its retry is refused
    dns.transport.session.mount(moto.url, adapter)
    dns.transport.sleep = lambda s: None
    created = dns.create_zone(domain)
    assert lost[0].status_code == 201
    references = [re.findall(rb"<CallerReference>(.*?)</CallerReference>", b) for b in adapter.bodies[1:3]]
    assert references[0] == references[1] and len(references[0]) == 1
    assert [z.id for z in dns.list_zones()] == [created.id]


def test_delete_zone_with_records(dns: Route53DNSDriver, zone: Zone) -> None:
    for rtype, (name, values, _) in SAMPLES.items():
        dns.create_record(zone, name, rtype, values[:1] if rtype == "CNAME" else values)
    alias = {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d111.cloudfront.net.", "EvaluateTargetHealth": "false"}
    dns._change(zone, upserts=[Record(zone.domain, "cdn", "A", None, [], {"AliasTarget": alias})], deletes=[])
    sent = Requests(dns)
    dns.delete_zone(zone.domain)
    assert sent.count("POST", "/rrset") == 1  # every record set in one change batch
    assert dns.list_zones() == []
    with pytest.raises(errors.NotFound):
        dns.delete_zone(zone)


# ------------------------------------------------------------------------------- records
@pytest.mark.parametrize("rtype", sorted(SAMPLES))
def test_record_lifecycle_for_every_type(dns: Route53DNSDriver, zone: Zone, rtype: str) -> None:
    assert rtype in dnsvalues.RECORD_TYPES
    name, values, replacement = SAMPLES[rtype]
    first = values[:1] if rtype == "CNAME" else values
    created = dns.create_record(zone, name, rtype, first, ttl=120)
    assert created.values == dnsvalues.values(rtype, first)
    got = dns.get_record(zone, name, rtype)
    assert (got.name, got.ttl, got.values, got.extra) == (name, 120, created.values, {})
    with pytest.raises(errors.Conflict):
        dns.create_record(zone, name, rtype, first)
    dns.update_record(zone.domain, name, rtype, replacement, ttl=600)
    got = dns.get_record(zone, name, rtype)
    assert (got.ttl, got.values) == (600, dnsvalues.values(rtype, replacement))
    dns.delete_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, name, rtype)
    with pytest.raises(errors.NotFound):
        dns.update_record(zone, name, rtype, replacement)


def test_every_type_listed_together(dns: Route53DNSDriver, zone: Zone) -> None:
    for rtype, (name, values, _) in SAMPLES.items():
        dns.create_record(zone, name, rtype, values[:1] if rtype == "CNAME" else values, ttl=300)
    listed = {(r.name, r.type): r.values for r in dns.iterate_records(zone)}
    for rtype, (name, values, _) in SAMPLES.items():
        assert listed[(name, rtype)] == dnsvalues.values(rtype, values[:1] if rtype == "CNAME" else values)
    assert ("@", "NS") in listed and all(t != "SOA" for _, t in listed)


def test_txt_wire_form(dns: Route53DNSDriver, zone: Zone) -> None:
    """Non-ASCII TXT goes out as octal escapes, long TXT as several strings, and comes back normalised."""
    sent = Scripted([])
    dns.transport.session.mount(dns.base_url, sent)
    dns.create_record(zone, "t", "TXT", ["é", "y" * 256])
    body = sent.bodies[-1].decode()
    assert '<Value>"\\303\\251"</Value>' in body
    assert f'<Value>"{"y" * 255}" "y"</Value>' in body
    assert dns.get_record(zone, "t", "TXT").values == sorted(['"é"', f'"{"y" * 255}" "y"'])


def test_records_listed_across_pages(moto: Server, dns: Route53DNSDriver, zone: Zone) -> None:
    names = [f"host{i}" for i in range(10)]
    dns._change(zone, upserts=[dns.record(zone, n, "A", ["192.0.2.1"]) for n in names], deletes=[])
    paged = make_driver(moto, page_size=3)
    sent = Requests(paged)
    records = paged.list_records(zone)
    assert sorted(r.name for r in records if r.type == "A") == sorted(names)
    assert len(records) == 11  # the apex NS too; SOA is skipped
    assert sent.count("GET", "/rrset") == 4  # 12 record sets with the SOA, 3 per page


def test_fifty_upserts_are_one_request(dns: Route53DNSDriver, zone: Zone) -> None:
    records = [dns.record(zone, f"n{i}", "TXT", [f"value {i}", "other"], 60) for i in range(50)]
    sent = Requests(dns)
    dns._change(zone, upserts=records, deletes=[])
    assert sent.seen == [("POST", f"/{r53.API_VERSION}/hostedzone/{zone.id}/rrset")]
    listed = {r.name: r for r in dns.iterate_records(zone) if r.type == "TXT"}
    assert [listed[r.name].values for r in records] == [r.values for r in records]


def test_large_batches_are_split_in_order(dns: Route53DNSDriver, zone: Zone) -> None:
    """moto refuses a batch over 1000 resource records (an UPSERT counts twice): 600 go in two calls."""
    records = [dns.record(zone, f"h{i}", "A", ["192.0.2.1"], 60) for i in range(600)]
    sent = Requests(dns)
    dns._change(zone, upserts=records, deletes=[])
    assert sent.count("POST", "/rrset") == 2
    sent.seen.clear()
    dns._change(zone, upserts=[], deletes=records)
    assert sent.count("POST", "/rrset") == 1  # a DELETE counts once
    assert [r.type for r in dns.list_records(zone)] == ["NS"]


def test_batches_respect_both_limits() -> None:
    def change(records: int, chars: int) -> Any:
        return r53._Change(b"", records, chars)

    by_count = list(r53.batches([change(2, 10)] * 1200))
    assert [len(b) for b in by_count] == [500, 500, 200]
    by_chars = list(r53.batches([change(2, 4000)] * 20))
    assert [len(b) for b in by_chars] == [8, 8, 4]
    huge = list(r53.batches([change(1, 10), change(3000, 10), change(1, 10)]))
    assert [len(b) for b in huge] == [1, 1, 1]


def test_record_outside_the_zone_is_refused_before_sending(dns: Route53DNSDriver, zone: Zone) -> None:
    sent = Requests(dns)
    with pytest.raises(errors.ValidationError, match="outside the zone"):
        dns.create_record(zone, "www.other.test.", "A", ["192.0.2.1"])
    foreign = Record(zone="other.test", name="www", type="A", ttl=60, values=["192.0.2.1"])
    with pytest.raises(errors.ValidationError, match="belongs to zone"):
        dns._change(zone, upserts=[foreign], deletes=[])
    assert sent.seen == []


def test_wildcards_round_trip(dns: Route53DNSDriver, zone: Zone) -> None:
    dns.create_record(zone, "*", "A", ["192.0.2.7"])
    dns.create_record(zone, f"*.sub.{zone.domain}.", "CNAME", "target.example.net")
    # Route 53 itself answers with octal escapes: write one the way it would come back.
    escaped = dns.record(zone, "esc", "A", ["192.0.2.8"])
    element = dns._rrset_element(escaped, delete=False)
    element.find("Name").text = f"\\052.esc.{zone.domain}."  # type: ignore[union-attr]
    dns._send(zone, [r53._make_change("UPSERT", element)])
    names = {(r.name, r.type) for r in dns.list_records(zone)}
    assert {("*", "A"), ("*.sub", "CNAME"), ("*.esc", "A")} <= names
    assert dns.get_record(zone, "*.sub", "CNAME").values == ["target.example.net."]
    dns.delete_record(zone, "*", "A")
    assert ("*", "A") not in {(r.name, r.type) for r in dns.list_records(zone)}
    assert r53.unescape_name("\\052.example.com.") == "*.example.com."


def test_alias_records_have_no_values(dns: Route53DNSDriver, zone: Zone) -> None:
    alias = {"HostedZoneId": "Z2FDTNDATAQYW2", "DNSName": "d111.cloudfront.net.", "EvaluateTargetHealth": "false"}
    record = Record(zone=zone.domain, name="cdn", type="A", ttl=None, values=[], extra={"AliasTarget": alias})
    dns._change(zone, upserts=[record], deletes=[])
    got = dns.get_record(zone, "cdn", "A")
    assert (got.values, got.ttl, got.extra["AliasTarget"]) == ([], None, alias)
    dns.delete_record(zone, "cdn", "A")
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, "cdn", "A")


# ---------------------------------------------------------------------------- errors
def test_error_mapping(dns: Route53DNSDriver, zone: Zone) -> None:
    with pytest.raises(errors.NotFound) as missing:
        dns.delete_zone(Zone(domain="gone.test", id="NOSUCHZONE"))
    assert missing.value.code == "NoSuchHostedZone"
    outside = dns.record(zone, "x", "A", ["192.0.2.1"])
    element = dns._rrset_element(outside, delete=False)
    element.find("Name").text = "x.elsewhere.test."  # type: ignore[union-attr]
    with pytest.raises(errors.InvalidRequest, match="not permitted") as batch:
        dns._send(zone, [r53._make_change("UPSERT", element)])
    assert batch.value.code == "InvalidChangeBatch"
    never_created = dns.record(zone, "never", "A", ["192.0.2.1"])
    with pytest.raises(errors.InvalidRequest):
        dns._change(zone, upserts=[], deletes=[never_created])


def test_invalid_change_batch_messages_are_kept() -> None:
    resp = requests.Response()
    resp.status_code = 400
    resp._content = (
        f'<InvalidChangeBatch xmlns="{r53.XMLNS}"><Messages><Message>first problem</Message>'
        "<Message>second problem</Message></Messages><RequestId>abc</RequestId></InvalidChangeBatch>"
    ).encode()
    info = common.error_info(resp)
    assert (info.code, info.message, info.request_id) == ("InvalidChangeBatch", "first problem; second problem", "abc")


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_throttling_is_retried(moto: Server, dns: Route53DNSDriver, code: str) -> None:
    adapter = Scripted([canned(400, code, "Rate exceeded"), canned(400, code, "Rate exceeded")])
    dns.transport.session.mount(moto.url, adapter)
    waits: list[float] = []
    dns.transport.sleep = waits.append
    assert dns.list_zones() == []
    assert len(adapter.bodies) == 3 and len(waits) == 2
    adapter.script = [canned(400, code, "Rate exceeded")] * 10
    with pytest.raises(errors.RateLimited) as limited:
        dns.list_zones()
    assert limited.value.code == code


# ------------------------------------------------------------------------ zone files
def test_bind_export_and_import(dns: Route53DNSDriver, zone: Zone) -> None:
    text = (
        f"$ORIGIN {zone.domain}.\n$TTL 300\n"
        "@ IN MX 10 mx1.example.net.\n"
        "www IN A 192.0.2.1\nwww IN A 192.0.2.2\n"
        '* 60 IN TXT "wild card" "two"\n'
        "_sip._tcp IN SRV 10 5 5060 sip.example.net.\n"
    )
    sent = Requests(dns)
    imported = dns.import_bind(zone, text)
    assert sent.count("POST", "/rrset") == 1
    assert {(r.name, r.type) for r in imported} == {("@", "MX"), ("www", "A"), ("*", "TXT"), ("_sip._tcp", "SRV")}
    exported = dns.export_bind(zone)
    assert "SOA" in exported
    back = {(r.name, r.type): (r.ttl, r.values) for r in zonefile.read(exported, zone.domain) if r.type != "SOA"}
    listed = {(r.name, r.type): (r.ttl, r.values) for r in dns.list_records(zone)}
    assert back == listed
    dns.import_bind(zone, f"$ORIGIN {zone.domain}.\nwww 300 IN A 192.0.2.9\n", replace=True)
    assert {(r.name, r.type): r.values for r in dns.list_records(zone)} == {
        ("www", "A"): ["192.0.2.9"],
        ("@", "NS"): listed[("@", "NS")][1],
    }


def test_soa_for_exports(dns: Route53DNSDriver, zone: Zone) -> None:
    # moto's own SOA value is malformed (it is given back as a dict's repr): the driver then
    # leaves the SOA to the zone-file writer. A well-formed one is used as it is.
    assert dns._soa(zone) is None
    soa = f"ns-1.awsdns-01.org. hostmaster.{zone.domain}. 7 7200 900 1209600 86400"
    element = dns._rrset_element(Record(zone.domain, "@", "A", 900, [soa]), delete=False)
    element.find("Type").text = "SOA"  # type: ignore[union-attr]
    dns._send(zone, [r53._make_change("UPSERT", element)])
    assert dns._soa(zone) == soa
    assert f"hostmaster.{zone.domain}." in dns.export_bind(zone)


def test_values_stored_in_another_spelling_are_deleted_exactly(dns: Route53DNSDriver, zone: Zone) -> None:
    """A record set written by another tool keeps Route 53's spelling in extra, so a DELETE quotes it."""
    element = dns._rrset_element(Record(zone.domain, "v6", "AAAA", 300, ["2001:DB8:0::1", "2001:db8::2"]), delete=False)
    dns._send(zone, [r53._make_change("UPSERT", element)])
    got = dns.get_record(zone, "v6", "AAAA")
    assert got.values == ["2001:db8::1", "2001:db8::2"]
    assert got.extra[r53.RAW_VALUES] == ["2001:DB8:0::1", "2001:db8::2"]
    dns.delete_record(zone, "v6", "AAAA")
    with pytest.raises(errors.NotFound):
        dns.get_record(zone, "v6", "AAAA")
