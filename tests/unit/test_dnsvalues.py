"""Names and values normalised once, so equal records compare equal on every provider."""

from __future__ import annotations

import pytest

from driver_core import dnsvalues as dv
from driver_core.errors import ValidationError


@pytest.mark.parametrize(
    "given,expected",
    [
        ("@", "@"),
        ("", "@"),
        ("Example.COM.", "@"),
        ("example.com", "@"),
        ("www", "www"),
        ("WWW.example.com", "www"),
        ("www.example.com.", "www"),
        ("_sip._tcp", "_sip._tcp"),
        ("*.dev", "*.dev"),
        ("a.b.example.com", "a.b"),
    ],
)
def test_relative_names(given: str, expected: str) -> None:
    assert dv.relative_name(given, "example.com") == expected


@pytest.mark.parametrize("bad", ["www.other.org.", "-bad", "a..b", "x" * 64, "sp ace", "nul\x00"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(ValidationError):
        dv.relative_name(bad, "example.com")


@pytest.mark.parametrize(
    "rtype,given,expected",
    [
        ("A", " 192.0.2.1 ", "192.0.2.1"),
        ("AAAA", "2001:DB8:0:0::1", "2001:db8::1"),
        ("CNAME", "Target.Example.net", "target.example.net."),
        ("NS", "ns1.example.net.", "ns1.example.net."),
        ("MX", "10   Mail.example.com", "10 mail.example.com."),
        ("SRV", "10 5 5060 SIP.example.com", "10 5 5060 sip.example.com."),
        ("TXT", "v=spf1 -all", '"v=spf1 -all"'),
        ("TXT", '"v=spf1 -all"', '"v=spf1 -all"'),
        ("TXT", '"a" "b c"', '"a" "b c"'),
        ("TXT", 'say "hi"', '"say \\"hi\\""'),
        ("CAA", '0 ISSUE "letsencrypt.org"', '0 issue "letsencrypt.org"'),
        ("CAA", "128 iodef mailto:sec@example.com", '128 iodef "mailto:sec@example.com"'),
        ("PTR", "host.example.com", "host.example.com."),
    ],
)
def test_values_normalised(rtype: str, given: str, expected: str) -> None:
    assert dv.value(rtype, given) == expected
    assert dv.value(rtype, expected) == expected  # normal form is a fixed point


def test_long_txt_split_into_255_byte_strings() -> None:
    text = "x" * 300
    assert dv.value("TXT", text) == f'"{"x" * 255}" "{"x" * 45}"'
    assert dv.split_quoted(dv.value("TXT", "é" * 200)) == ["é" * 127, "é" * 73]


@pytest.mark.parametrize(
    "rtype,bad,hint",
    [
        ("A", "256.1.1.1", "IPv4"),
        ("A", "::1", "IPv4"),
        ("AAAA", "1.2.3.4", "IPv6"),
        ("MX", "mail.example.com", "preference"),
        ("MX", "70000 mx.example.com", "between"),
        ("SRV", "1 2 mail", "priority"),
        ("CNAME", "bad..name", "valid"),
        ("CAA", "0 issue", "flags"),
        ("TXT", '"abc\\"', "quotes"),
    ],
)
def test_invalid_values(rtype: str, bad: str, hint: str) -> None:
    with pytest.raises(ValidationError, match=hint):
        dv.value(rtype, bad)


def test_value_sets() -> None:
    assert dv.values("A", ["192.0.2.2", "192.0.2.1", "192.0.2.2"]) == ["192.0.2.1", "192.0.2.2"]
    assert dv.values("MX", "10 mx.example.com") == ["10 mx.example.com."]
    with pytest.raises(ValidationError, match="only one value"):
        dv.values("CNAME", ["a.example.com", "b.example.com"])
    with pytest.raises(ValidationError, match="at least one"):
        dv.values("A", [])
    with pytest.raises(ValidationError, match="not supported"):
        dv.record_type("HINFO")
    assert dv.record_type("mx") == "MX"
    assert dv.ttl(None, 300) == 300 and dv.ttl("60") == 60
    with pytest.raises(ValidationError):
        dv.ttl(-1)


def test_domains() -> None:
    assert dv.domain("Example.COM.") == "example.com"
    for bad in ["", ".", "a/b", "../etc", "exa mple.com"]:
        with pytest.raises(ValidationError):
            dv.domain(bad)


def test_escapes_and_bad_text() -> None:
    assert dv.value("TXT", '"a\\065"') == '"aA"'
    assert dv.value("TXT", '"caf\\195\\169"') == '"café"'
    with pytest.raises(ValidationError):
        dv.value("TXT", '"\\255\\255"')
    with pytest.raises(ValidationError):
        dv.value("TXT", "bad \udcff surrogate")
    with pytest.raises(ValidationError, match="single label"):
        dv.value("MX", "10 mail")
    assert dv.value("MX", "0 .") == "0 ."
    with pytest.raises(ValidationError, match="wildcard"):
        dv.domain("*.example.com")
