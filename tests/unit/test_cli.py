"""The driver-core command against real backends: local storage and DNS folders, and moto for S3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import driver_core
from driver_core import cli
from tests import backends

SECRET = "s3cr3t-Never-Print-Me-42"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    text, errors = out.getvalue(), err.getvalue()
    assert "Traceback" not in text + errors
    assert SECRET not in text + errors
    return code, text, errors


@pytest.fixture
def setup(tmp_path: Path, moto_server: backends.Server) -> dict[str, Any]:
    """A site written as a new user would, from docs/cli.md: local storage and DNS, and an S3 bucket."""
    files, zones = tmp_path / "objects", tmp_path / "zones"
    bucket = f"dc-test-cli-{uuid.uuid4().hex[:10]}"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<h1>hello</h1>\n")
    text = f"""\
connections:
  disk:
    provider: local
    endpoint: {files}
  zones:
    provider: local
    endpoint: {zones}
  s3:
    provider: aws
    endpoint: {moto_server.url}
    region: us-east-1
    key: testing-key
    secret: {SECRET}

resources:
  - kind: dns_record          # listed before its zone on purpose: the CLI orders them
    connection: zones
    zone: example.test
    name: www
    type: A
    values: [192.0.2.1]
    ttl: 300
  - kind: dns_zone
    connection: zones
    name: example.test
  - kind: container
    connection: disk
    name: site
  - kind: object
    connection: disk
    container: site
    name: index.html
    content: "<h1>hello</h1>"
    content_type: text/html
  - kind: container
    connection: s3
    name: {bucket}
  - kind: object
    connection: s3
    container: {bucket}
    name: index.html
    src: site/index.html
"""
    path = tmp_path / "site.yaml"
    path.write_text(text)
    storage = driver_core.get_driver("storage", "local", endpoint=str(files))
    dns = driver_core.get_driver("dns", "local", endpoint=str(zones))
    s3 = driver_core.get_driver(
        "storage", "aws", endpoint=moto_server.url, region="us-east-1", key="testing-key", secret=SECRET
    )
    return {"path": path, "text": text, "storage": storage, "dns": dns, "s3": s3, "bucket": bucket}


def test_apply_check_destroy(setup: dict[str, Any]) -> None:
    path, dns, storage, s3, bucket = setup["path"], setup["dns"], setup["storage"], setup["s3"], setup["bucket"]

    code, out, _ = run("apply", str(path))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "+ create dns_zone example.test"  # rank order, then file order
    assert "+ create dns_record www.example.test. A" in lines
    assert lines.index("+ create dns_zone example.test") < lines.index("+ create dns_record www.example.test. A")
    assert lines.index("+ create container site") < lines.index("+ create object site/index.html")
    assert lines[-1].startswith("done: 6 created")
    assert dns.get_record(dns.get_zone("example.test"), "www", "A").values == ["192.0.2.1"]
    assert storage.get_object("site", "index.html").content_type == "text/html"
    assert s3.get_object(bucket, "index.html").size == len("<h1>hello</h1>\n")

    code, out, _ = run("apply", str(path))
    assert code == 0
    assert "no changes" in out and "+" not in out and "~" not in out
    assert out.count("= ok") == 6

    path.write_text(setup["text"].replace("192.0.2.1", "192.0.2.9"))
    code, out, _ = run("apply", str(path), "--check", "--diff")
    assert code == 2, out
    assert "~ update dns_record www.example.test. A" in out
    assert '    ~ values: ["192.0.2.1"] -> ["192.0.2.9"]' in out
    assert out.splitlines()[-1] == "plan: 1 to update, 5 unchanged"
    assert [r.values for r in dns.list_records(dns.get_zone("example.test")) if r.type == "A"] == [["192.0.2.1"]]

    code, out, _ = run("destroy", str(path), "--check")
    assert code == 2 and "- delete container site" in out
    assert [c.name for c in storage.list_containers()] == ["site"]

    code, out, _ = run("destroy", str(path))
    assert code == 0, out
    lines = out.splitlines()
    assert lines.index("- delete object site/index.html") < lines.index("- delete container site")
    assert lines.index("- delete dns_record www.example.test. A") < lines.index("- delete dns_zone example.test")
    assert storage.list_containers() == [] and dns.list_zones() == []
    assert bucket not in [c.name for c in s3.list_containers()]

    code, out, _ = run("destroy", str(path))
    assert code == 0 and "no changes" in out


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


HEAD = f"""\
connections:
  disk: {{provider: local, endpoint: /tmp/unused-dc-cli, secret: {SECRET}}}
resources:
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - {kind: nod, name: x}\n", "resources[0]: unknown kind 'nod'"),
        ("  - {name: x}\n", "resources[0]: missing field 'kind'"),
        (
            "  - {kind: container, name: a}\n  - {kind: object, name: x, content: hi}\n",
            "resources[1] (object): missing field 'container'",
        ),
        ("  - {kind: container, connection: nope, name: a}\n", "connection 'nope' is not in connections (disk)"),
        ("  - {kind: dns_record, zone: z.test, name: w, type: A}\n", "state present needs values"),
        ("  - kind: container\n    name: [unclosed\n", "not valid YAML"),
        ("  - kind: container\n\tname: tab\n", "not valid YAML"),
        ("  - {kind: container, name: a, state: gone}\n", "state must be one of present, absent"),
        ("", "resources: must be a list"),
    ],
)
def test_bad_files(tmp_path: Path, body: str, message: str) -> None:
    code, out, err = run("apply", write(tmp_path, HEAD + body))
    assert code == 1
    assert message in err, err
    assert out == "" and err.startswith("error: ")


def test_bad_connection_and_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"connections:\n  c: {{provider: local, endpoint: /tmp/x, secrte: {SECRET}}}\nresources: []\n"
    code, _, err = run("apply", write(tmp_path, text))
    assert code == 1 and "connections.c: unknown option(s) secrte" in err
    text = (
        "connections:\n  c: {provider: aws, env: {secret: DC_CLI_TEST_UNSET}}\n"
        "resources:\n  - {kind: container, name: a}\n"
    )
    code, _, err = run("apply", write(tmp_path, text))
    assert code == 1 and "environment variable DC_CLI_TEST_UNSET is not set" in err
    code, _, err = run("apply", str(tmp_path / "missing.yaml"))
    assert code == 1 and "cannot read" in err
    code, _, err = run("apply")
    assert code == 1 and "FILE" in err
    code, out, _ = run("providers")
    assert code == 0 and "storage: aws, azure, local" in out and "dns_record (dns)" in out


def test_missing_resource_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.RESOURCES, "node", ("compute", "driver_core.desired.no_such_module:NodeResource", 1))
    text = "connections:\n  c: {provider: local, endpoint: /tmp/x}\nresources:\n  - {kind: node, name: a}\n"
    code, _, err = run("apply", write(tmp_path, text))
    assert code == 1 and "resource kind 'node' is not available" in err


def test_secret_never_printed(tmp_path: Path, moto_server: backends.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # A provider error (a bucket name S3 refuses) with the secret given inline, and one from the environment.
    monkeypatch.setenv("DC_CLI_TEST_SECRET", SECRET.lower() + "-env")
    for secret, given in (
        (SECRET, f"secret: {SECRET}"),
        (SECRET.lower() + "-env", "env: {secret: DC_CLI_TEST_SECRET}"),
    ):
        text = f"""\
connections:
  s3: {{provider: aws, endpoint: "{moto_server.url}", region: us-east-1, key: testing-key, {given}}}
resources:
  - {{kind: container, name: "Bad_Name_{secret}"}}
"""
        code, out, err = run("apply", write(tmp_path, text), "--diff")
        assert code == 1, out + err
        assert "error: resources[0] container Bad_Name_***: aws: container name 'Bad_Name_***'" in err
        assert secret not in out + err


def test_json_without_pyyaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)
    folder = tmp_path / "objects"
    path = tmp_path / "site.json"
    path.write_text(
        json.dumps(
            {
                "connections": {"d": {"provider": "local", "endpoint": str(folder)}},
                "resources": [{"kind": "container", "name": "site-a"}],
            }
        )
    )
    code, out, _ = run("apply", str(path))
    assert code == 0 and "+ create container site-a" in out
    code, _, err = run("apply", write(tmp_path, HEAD))
    assert code == 1 and "pip install 'driver-core[cli]'" in err


def test_module_entry_point(tmp_path: Path) -> None:
    folder = tmp_path / "objects"
    path = tmp_path / "site.yaml"
    path.write_text(
        f"connections:\n  d: {{provider: local, endpoint: {folder}}}\n"
        "resources:\n  - kind: container\n    name: site-a\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "driver_core.cli", "apply", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines() == ["+ create container site-a", "plan: 1 to create, 0 unchanged"]
    assert driver_core.get_driver("storage", "local", endpoint=str(folder)).list_containers() == []
    done = subprocess.run(
        [sys.executable, "-m", "driver_core.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "exit codes:" in done.stdout
