"""Record samples shared by the DNS provider tests: a name, values, and the values an update sets."""

from __future__ import annotations

#: Two values per type (one for CNAME), then the values an update replaces them with.
SAMPLES: dict[str, tuple[str, list[str], list[str]]] = {
    "A": ("www", ["192.0.2.10", "192.0.2.11"], ["192.0.2.12"]),
    "AAAA": ("www", ["2001:DB8:0:0::10", "2001:db8::11"], ["2001:db8::12", "2001:db8::13"]),
    "CAA": ("@", ['0 issue "letsencrypt.org"', '0 iodef "mailto:security@example.net"'], ["128 ISSUE pki.example"]),
    "CNAME": ("alias", ["target.example.net"], ["other.example.net."]),
    "MX": ("@", ["10 mx1.example.net.", "20 MX2.example.net"], ["5 mx3.example.net."]),
    "NS": ("delegated", ["ns1.delegated.example.net.", "ns2.delegated.example.net."], ["ns3.example.net."]),
    "PTR": ("10.rev", ["host1.example.net.", "host2.example.net."], ["host3.example.net."]),
    "SRV": ("_sip._tcp", ["10 5 5060 sip1.example.net.", "20 5 5060 sip2.example.net"], ["30 0 5061 sip3.example.net"]),
    "TXT": ("txt", ['"hello world"', 'say "hi" there', "é ünïcode"], ['"two" "strings"', "x" * 300]),
}
