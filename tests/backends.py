"""Start and stop the real servers the tests use, on loopback.

Every backend is a real server process: moto in server mode (S3), Azurite
(Azure Blob). A backend that cannot be found is a test failure with a message
saying how to install it, never a skip.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key; it is public and only opens the local emulator.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class BackendMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workdir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


def _wait_ready(server: Server, probe: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            requests.get(probe, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    tail = server.log.read_text(errors="replace")[-2000:] if server.log.exists() else ""
    raise BackendMissing(f"{server.name} did not start within {timeout:.0f} s. Its log ends with:\n{tail}")


def _spawn(
    name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return proc, log


def start_moto(*, verify_signatures: bool = False) -> Server:
    """moto in server mode. With ``verify_signatures`` it checks SigV4 signatures and IAM
    permissions: ``server.env`` then holds the key and secret of a user allowed everything."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise BackendMissing(
            "moto is not installed: run `bash scripts/test.sh` (or pip install -e '.[test]')"
        ) from None
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    workdir = Path(tempfile.mkdtemp(prefix="dc-moto-"))
    env = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
    if verify_signatures:
        # The first three calls (in _moto_user) are let through unauthenticated to create the user.
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
    proc, log = _spawn("moto", argv, workdir, env)
    server = Server("moto", f"http://127.0.0.1:{port}", proc, log, workdir)
    _wait_ready(server, f"{server.url}/moto-api/")
    if verify_signatures:
        server.env.update(_moto_user(server.url))
    return server


def _moto_user(url: str) -> dict[str, str]:
    import json

    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        region_name="us-east-1",
    )
    iam.create_user(UserName="tester")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="tester", PolicyName="everything", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="tester")["AccessKey"]
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def azurite_binary() -> str:
    candidates = [
        os.environ.get("DRIVER_CORE_AZURITE", ""),
        str(ROOT / ".backends" / "node_modules" / ".bin" / "azurite-blob"),
        shutil.which("azurite-blob") or "",
    ]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise BackendMissing(
        "Azurite is not installed: run `bash scripts/test.sh`, or "
        "`npm install --prefix .backends --no-audit --no-fund azurite@3.35`"
    )


def start_azurite() -> Server:
    binary = azurite_binary()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dc-azurite-"))
    (workdir / "data").mkdir()
    argv = [
        binary,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(workdir / "data"),
        "--disableTelemetry",
        "--silent",
    ]
    proc, log = _spawn("azurite", argv, workdir)
    server = Server("azurite", f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}", proc, log, workdir)
    _wait_ready(server, f"http://127.0.0.1:{port}/")
    return server


def serve(start: Callable[..., Server], **kw: Any) -> Iterator[Server]:
    """For fixtures: start a backend, yield it, stop it. A missing backend fails the run, never skips."""
    import pytest

    try:
        server = start(**kw)
    except BackendMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with running(server):
        yield server


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def start_fault_proxy(upstream: str) -> Server:
    """The fault-injecting proxy of tests/faultproxy.py, in front of ``upstream``, as its own process."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="dc-proxy-"))
    argv = [sys.executable, str(ROOT / "tests" / "faultproxy.py"), upstream, str(port)]
    proc, log = _spawn("faultproxy", argv, workdir)
    split = upstream.split("/", 3)
    path = "/" + split[3] if len(split) > 3 else ""
    server = Server("faultproxy", f"http://127.0.0.1:{port}{path}", proc, log, workdir)
    _wait_ready(server, f"http://127.0.0.1:{port}/__fault__")
    return server


def inject(proxy: Server, **spec: object) -> dict[str, int]:
    """Tell the proxy what to do next (see tests/faultproxy.py); returns its counters."""
    base = proxy.url.split("/", 3)
    result: dict[str, int] = requests.post(f"{base[0]}//{base[2]}/__fault__", json=spec, timeout=5).json()
    return result
