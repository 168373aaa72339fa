"""A real PowerDNS Authoritative server on loopback, and ``dig`` to ask it over real DNS.

The server keeps its zones in a fresh sqlite database, answers DNS on a free UDP/TCP port
and serves its HTTP API (with a random API key) on another free port.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from tests.backends import BackendMissing, Server, _spawn, _wait_ready, free_port

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
_INSTALL = "run `bash scripts/test.sh` (it installs pdns-server, pdns-backend-sqlite3 and dnsutils)"


def pdns_binary() -> str:
    for candidate in (shutil.which("pdns_server"), "/usr/sbin/pdns_server"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BackendMissing(f"PowerDNS (pdns_server) is not installed: {_INSTALL}")


def start_powerdns() -> Server:
    """PowerDNS with the gsqlite3 backend and the HTTP API on; ``server.url`` is the API base URL,
    ``server.env`` holds ``api_key`` and ``dns_port``."""
    binary = pdns_binary()
    if not SCHEMA.is_file():
        raise BackendMissing(f"the PowerDNS sqlite schema {SCHEMA} is missing: {_INSTALL}")
    workdir = Path(tempfile.mkdtemp(prefix="dc-pdns-"))
    database = workdir / "pdns.sqlite3"
    with sqlite3.connect(database) as db:
        db.executescript(SCHEMA.read_text())
    db.close()
    (workdir / "run").mkdir()
    api_key = secrets.token_hex(16)
    dns_port, api_port = free_port(), free_port()
    settings = {
        "launch": "gsqlite3",
        "gsqlite3-database": str(database),
        "local-address": "127.0.0.1",
        "local-port": str(dns_port),
        "api": "yes",
        "api-key": api_key,
        "webserver": "yes",
        "webserver-address": "127.0.0.1",
        "webserver-port": str(api_port),
        "webserver-allow-from": "127.0.0.0/8",
        "socket-dir": str(workdir / "run"),
        "daemon": "no",
        "guardian": "no",
        "disable-syslog": "yes",
        "security-poll-suffix": "",
    }
    (workdir / "pdns.conf").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    proc, log = _spawn("pdns", [binary, f"--config-dir={workdir}"], workdir)
    server = Server("powerdns", f"http://127.0.0.1:{api_port}", proc, log, workdir)
    server.env.update({"api_key": api_key, "dns_port": str(dns_port)})
    _wait_ready(server, f"{server.url}/api/v1/servers/localhost", timeout=30)
    return server


def dig(port: int | str, name: str, rtype: str, *, authority: bool = False) -> list[str]:
    """The record data PowerDNS serves for ``name``/``rtype`` over real DNS (``dig +short``).

    With ``authority`` the authority section is read instead of the answer, which is where a
    delegation (NS records below the apex) is served.
    """
    if shutil.which("dig") is None:
        raise BackendMissing(f"dig is not installed: {_INSTALL}")
    argv = ["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2"]
    argv += ["+noall", "+authority"] if authority else ["+short"]
    out = subprocess.run([*argv, name, rtype], capture_output=True, text=True, timeout=15, check=True).stdout
    if not authority:
        return [line.strip() for line in out.splitlines() if line.strip()]
    rdata = []
    for line in out.splitlines():
        fields = line.split(None, 4)  # name ttl class type rdata
        if len(fields) == 5 and fields[3].upper() == rtype.upper():
            rdata.append(fields[4].strip())
    return rdata
