"""PowerDNS Authoritative: zones and record sets over its HTTP API (v1)."""
