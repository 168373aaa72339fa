"""Reading and writing BIND zone files, checked against dnspython and named-checkzone."""

from __future__ import annotations

import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from driver_core import dnsvalues, zonefile
from driver_core.errors import ValidationError
from driver_core.models import Record

ORIGIN = "example.com"
SOA_VALUE = "ns1.example.com. hostmaster.example.com. 2024010101 3600 600 1209600 300"
NAMED_CHECKZONE = "/usr/bin/named-checkzone"

MESSY = """\
; a zone file as people write them
$TTL 1h   ; one hour
$ORIGIN Example.COM.
@   IN  SOA  ns1 HostMaster.example.com. (
             2024010101 ; serial
             3h         ; refresh
             15m 2w     ; retry, expire
             5m )       ; minimum
    IN  NS   ns1
        NS   ns2.example.net.
ns1 300 IN A 192.0.2.1
www IN 60 a 192.0.2.2
    60 IN A 192.0.2.3        ; blank owner: still www
    A 192.0.2.2              ; a duplicate value
WWW.example.com. 30 A 192.0.2.4   ; same set, absolute, smaller TTL wins
v6  AAAA 2001:DB8:0:0::1
mail 3600 MX ( 10
               mx1 )
     MX 20 mx2.example.net.
txt TXT "v=spf1 -all ; not a comment" unquoted "say \\"hi\\"" "back\\\\slash" "caf\\195\\169"
_sip._tcp SRV 10 5 5060 sip
caa CAA 0 ISSUE "letsencrypt.org"
ptr PTR host.example.net.
*.wild CNAME www
$ORIGIN sub.example.com.
x CNAME @
$ORIGIN deeper      ; relative to sub.example.com.
y TXT ""
"""


def rec(name: str, rtype: str, values: list[str], ttl: int | None = 3600) -> Record:
    """A record set in normal form (values normalised and sorted)."""
    normal = dnsvalues.values(rtype, values) if rtype in dnsvalues.RECORD_TYPES else values
    return Record(zone=ORIGIN, name=name, type=rtype, ttl=ttl, values=normal)


def by_key(records: list[Record]) -> dict[tuple[str, str], Record]:
    return {(r.name, r.type): r for r in records}


def test_messy_zone_file_parses_right() -> None:
    records = by_key(zonefile.read(MESSY, "example.com."))
    assert records["@", "SOA"].values == ["ns1.example.com. hostmaster.example.com. 2024010101 10800 900 1209600 300"]
    assert records["@", "SOA"].ttl == 3600
    assert records["@", "NS"].values == ["ns1.example.com.", "ns2.example.net."]
    assert records["ns1", "A"] == Record(ORIGIN, "ns1", "A", 300, ["192.0.2.1"])
    assert records["www", "A"] == Record(ORIGIN, "www", "A", 30, ["192.0.2.2", "192.0.2.3", "192.0.2.4"])
    assert records["v6", "AAAA"].values == ["2001:db8::1"]
    assert records["mail", "MX"].values == ["10 mx1.example.com.", "20 mx2.example.net."]
    assert records["txt", "TXT"].values == [
        '"v=spf1 -all ; not a comment" "unquoted" "say \\"hi\\"" "back\\\\slash" "café"'
    ]
    assert records["_sip._tcp", "SRV"].values == ["10 5 5060 sip.example.com."]
    assert records["caa", "CAA"].values == ['0 issue "letsencrypt.org"']
    assert records["ptr", "PTR"].values == ["host.example.net."]
    assert records["*.wild", "CNAME"].values == ["www.example.com."]
    assert records["x.sub", "CNAME"].values == ["sub.example.com."]
    assert records["y.deeper.sub", "TXT"].values == ['""']
    assert all(r.zone == ORIGIN for r in records.values())
    assert len(records) == 13


def test_ttl_defaults_follow_ttl_directive_then_last_explicit_ttl() -> None:
    text = "@ 100 IN SOA a. b. 1 2 3 4 5\n@ NS ns.example.net.\nx A 192.0.2.1\n$TTL 2d\ny A 192.0.2.2\n"
    records = by_key(zonefile.read(text, ORIGIN))
    assert records["@", "NS"].ttl == 100  # no $TTL yet: the last TTL given
    assert records["y", "A"].ttl == 172800
    assert zonefile.parse(text, ORIGIN).default_ttl == 172800
    assert zonefile.read("@ IN SOA a. b. 1 2 3 4 77\nx A 192.0.2.1\n", ORIGIN)[1].ttl == 77  # SOA minimum


def test_class_and_ttl_in_either_order_and_types_in_any_case() -> None:
    text = "$TTL 60\na IN 10 a 192.0.2.1\nb 20 in A 192.0.2.2\nc in txt x\nd Mx 1 @\n"
    records = by_key(zonefile.read(text, ORIGIN))
    assert (records["a", "A"].ttl, records["b", "A"].ttl, records["c", "TXT"].ttl) == (10, 20, 60)
    assert records["d", "MX"].values == ["1 example.com."]


def test_windows_line_endings_and_escaped_specials() -> None:
    text = '$TTL 60\r\nt TXT a\\;b "x(y)z" \\"q\r\n'
    assert zonefile.read(text, ORIGIN)[0].values == ['"a;b" "x(y)z" "\\"q"']


def test_caa_value_may_be_unquoted() -> None:
    assert zonefile.read("c 60 CAA 128 iodef mailto:a@example.com\n", ORIGIN)[0].values == [
        '128 iodef "mailto:a@example.com"'
    ]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("$TTL 60\n\nx 60 IN HINFO a b\n", 3, ["HINFO", "not supported"]),
        ("$TTL 60\nx 60 IN dnskey 1 2 3 abc\n", 2, ["DNSKEY"]),
        ("$TTL 60\nwww.example.org. A 192.0.2.1\n", 2, ["outside"]),
        ("$TTL 60\n$ORIGIN example.org.\nwww A 192.0.2.1\n", 3, ["outside"]),
        ("$TTL 60\nx A (192.0.2.1\n\n", 2, ["')'"]),
        ("$TTL 60\nx A 192.0.2.1 )\n", 2, ["'('"]),
        ("$TTL 60\nx A ( ( 192.0.2.1 ) )\n", 2, ["nest"]),
        ('$TTL 60\nx TXT "abc\n', 2, ["closing '\"'"]),
        ("$TTL 60\nx 60 IN\n", 2, ["expected a record type"]),
        ("$TTL 60\nx 60 IN 1.2.3.4\n", 2, ["expected a record type"]),
        ("$TTL 60\nx A\n", 2, ["expected the data"]),
        ("$TTL 60\nx MX 10\n", 2, ["2 fields for MX (preference and host), found 1"]),
        ("$TTL 60\nx A 300.1.1.1\n", 2, ["IPv4"]),
        ("$TTL 60\nx 60 CH A 192.0.2.1\n", 2, ["class CH"]),
        ("  A 192.0.2.1\n", 1, ["owner name"]),
        ("$INCLUDE other.zone\n", 1, ["$INCLUDE"]),
        ("$TTL\n", 1, ["one TTL"]),
        ("$TTL forever\n", 1, ["TTL"]),
        ("$FOO bar\n", 1, ["directive"]),
        ("x 60 CNAME a.example.net.\nx 60 CNAME b.example.net.\n", 1, ["only one value"]),
        ("x 60 CNAME a.example.net.\nx 60 A 192.0.2.1\n", 1, ["CNAME"]),
        ("@ SOA a. b. 1 2 3 4 5\n@ SOA a. b. 2 2 3 4 5\n", 2, ["second SOA"]),
        ("x SOA a. b. 1 2 3 4 5\n", 1, ["apex"]),
        ("@ SOA a. b. 1 2 3 4\n", 1, ["7 fields for SOA"]),
        ('$TTL 60\nx TXT "\\300"\n', 2, ["\\000 to \\255"]),
        ('$TTL 60\nx TXT "\\255"\n', 2, ["UTF-8"]),
        ('$TTL 60\nx A "192.0.2.1"\n', 2, ["quoted"]),
        ("$TTL 60\nbad\\.name A 192.0.2.1\n", 2, ["escaped"]),
    ],
)
def test_errors_name_the_line_and_what_was_expected(text: str, line: int, words: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        zonefile.read(text, ORIGIN)
    message = str(caught.value)
    assert message.startswith(f"line {line}: "), message
    for word in words:
        assert word in message, message


# ------------------------------------------------------------------ writing
ALL_TYPES = [
    rec("@", "NS", ["ns1.example.com.", "ns2.example.net."]),
    rec("@", "MX", ["0 ."]),
    rec("ns1", "A", ["192.0.2.53"], ttl=300),
    rec("www", "A", ["192.0.2.1", "192.0.2.2"], ttl=60),
    rec("www", "AAAA", ["2001:db8::1"]),
    rec("alias", "CNAME", ["www.example.com."]),
    rec("mail", "MX", ["10 mx.example.net.", "20 mx2.example.net."]),
    rec("1.2", "PTR", ["host.example.net."]),
    rec("_sip._tcp", "SRV", ["10 5 5060 sip.example.net."]),
    rec("*.wild", "TXT", ['"v=spf1 -all"']),
    rec(
        "txt",
        "TXT",
        ['"say \\"hi\\" ; now"', '"back\\\\slash" "two"', '"café ☃"', '"tab\tand\nnewline"', '""'],
    ),
    rec("long", "TXT", [dnsvalues.value("TXT", "x" * 300)]),
    rec("@", "CAA", ['0 issue "letsencrypt.org"', '128 iodef "mailto:ops@example.com"']),
]


def sort_records(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.name != "@", r.name, r.type != "SOA", r.type))


def written(records: list[Record], soa: str | None = SOA_VALUE, ttl: int | None = 3600) -> str:
    return zonefile.write(ORIGIN, records, soa=soa, default_ttl=ttl)


@pytest.mark.parametrize("record", ALL_TYPES, ids=lambda r: f"{r.type}-{r.name}")
def test_every_type_round_trips(record: Record) -> None:
    back = zonefile.read(written([record]), ORIGIN)
    assert back == [Record(ORIGIN, "@", "SOA", 3600, [SOA_VALUE]), record]


def test_whole_zone_round_trips_and_is_sorted() -> None:
    text = written(list(reversed(ALL_TYPES)))
    lines = text.splitlines()
    assert lines[:3] == ["$ORIGIN example.com.", "$TTL 3600", f"@         3600 IN SOA {SOA_VALUE}"]
    assert lines[3].split()[:4] == ["@", "3600", "IN", "CAA"]  # apex first, then types in order
    assert zonefile.read(text, ORIGIN) == sort_records([Record(ORIGIN, "@", "SOA", 3600, [SOA_VALUE]), *ALL_TYPES])


def test_generated_soa_and_default_ttl() -> None:
    text = zonefile.write(ORIGIN, [rec("@", "NS", ["ns1.example.net."])], soa=None, default_ttl=None)
    soa = zonefile.read(text, ORIGIN)[0]
    today = datetime.now(timezone.utc).date().strftime("%Y%m%d")
    assert soa.values == [f"ns1.example.com. hostmaster.example.com. {today}01 3600 600 1209600 300"]
    assert "$TTL 3600" in text


def test_write_normalises_soa_and_rejects_bad_input() -> None:
    text = written([], soa="NS1.Example.com hostmaster.example.com. ( 5 1h 600 1209600 300 )")
    assert "IN SOA ns1.example.com. hostmaster.example.com. 5 3600 600 1209600 300" in text
    with pytest.raises(ValidationError, match="SOA"):
        written([], soa="ns1. host. 1 2 3")
    with pytest.raises(ValidationError, match="outside the zone"):
        written([rec("www.example.org.", "A", ["192.0.2.1"])])
    with pytest.raises(ValidationError, match="not supported"):
        written([rec("x", "HINFO", ["a b"])])


def to_records(zone: dns.zone.Zone) -> list[Record]:
    """dnspython's view of a zone in driver-core's normal form, decoded independently."""
    out = []
    assert zone.origin is not None
    for name, rdataset in zone.iterate_rdatasets():
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        values = []
        for rdata in rdataset:
            if rtype == "TXT":
                values.append(" ".join(dnsvalues.quote(s.decode()) for s in rdata.strings))
            elif rtype == "CAA":
                values.append(f"{rdata.flags} {rdata.tag.decode()} {dnsvalues.quote(rdata.value.decode())}")
            else:
                values.append(rdata.to_text())
        rel = name.relativize(zone.origin).to_text()
        out.append(Record(ORIGIN, rel, rtype, rdataset.ttl, sorted(values)))
    return sort_records(out)


def test_dnspython_reads_the_same_rrsets() -> None:
    text = written(ALL_TYPES)
    zone = dns.zone.from_text(text, origin="example.com.", relativize=False)
    assert to_records(zone) == sort_records([Record(ORIGIN, "@", "SOA", 3600, [SOA_VALUE]), *ALL_TYPES])


def named_checkzone(path: Path, origin: str = ORIGIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NAMED_CHECKZONE, origin, str(path)], capture_output=True, text=True, timeout=60)


def test_named_checkzone_accepts_written_files(tmp_path: Path) -> None:
    path = tmp_path / "example.com.zone"
    path.write_text(written(ALL_TYPES))
    result = named_checkzone(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_named_checkzone_sees_the_same_data(tmp_path: Path) -> None:
    """named-checkzone's canonical dump (-D) parsed back gives the records that were written."""
    path = tmp_path / "example.com.zone"
    path.write_text(written(ALL_TYPES))
    dump = subprocess.run(
        [NAMED_CHECKZONE, "-D", "-q", "-o", "-", ORIGIN, str(path)], capture_output=True, text=True, timeout=60
    )
    assert dump.returncode == 0, dump.stderr
    assert zonefile.read(dump.stdout, ORIGIN) == zonefile.read(path.read_text(), ORIGIN)


def test_named_checkzone_accepts_the_messy_file_we_read(tmp_path: Path) -> None:
    path = tmp_path / "messy.zone"
    path.write_text(MESSY + "$ORIGIN example.com.\nmx1 A 192.0.2.9\nsip A 192.0.2.10\n")
    assert named_checkzone(path).returncode == 0
    records = zonefile.read(path.read_text(), ORIGIN)
    again = zonefile.read(written(records, soa=None), ORIGIN)
    assert again == records


# ------------------------------------------------------------------ serials
@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("1", "2026112200"),
        ("2026112100", "2026112200"),
        ("2026112199", "2026112200"),
        ("2026112200", "2026112201"),
        ("2026112207", "2026112208"),
        ("2030010100", "2030010101"),
        ("4294967295", "0"),
    ],
)
def test_bump_serial(serial: str, expected: str) -> None:
    soa = f"ns1.example.com. hostmaster.example.com. {serial} 3600 600 1209600 300"
    bumped = zonefile.bump_serial(soa, date(2026, 11, 22))
    assert bumped == f"ns1.example.com. hostmaster.example.com. {expected} 3600 600 1209600 300"
    assert zonefile.soa_serial(bumped) == int(expected)
