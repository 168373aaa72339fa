"""Connection options: arguments, then the profile file, then provider-native environment variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import driver_core
from driver_core import errors
from driver_core.profiles import resolve
from driver_core.registry import driver_class, providers

PROFILES = """
[profiles.dev]
provider = "aws"
key = "profile-key"
secret = "profile-secret"
region = "eu-west-1"
endpoint = "http://127.0.0.1:9"

[profiles.dev.options]
addressing = "path"
part_size = 8388608

[profiles.blob]
provider = "azure"
key = "account"
secret = "c2VjcmV0"
"""


@pytest.fixture
def profile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(PROFILES)
    path.chmod(0o600)
    monkeypatch.setenv("DRIVER_CORE_PROFILES", str(path))
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "DRIVER_CORE_PROFILE",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT",
        "AZURE_STORAGE_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    return path


def test_precedence(profile_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert resolve("aws", "storage").key == "env-key"
    assert resolve("aws", "storage").region == "ap-south-1"
    from_profile = resolve("aws", "storage", profile="dev")
    assert (from_profile.key, from_profile.region) == ("profile-key", "eu-west-1")
    assert from_profile.options == {"addressing": "path", "part_size": 8388608}
    explicit = resolve("aws", "storage", profile="dev", key="arg-key", options={"part_size": 5})
    assert explicit.key == "arg-key" and explicit.secret == "profile-secret"
    assert explicit.options == {"addressing": "path", "part_size": 5}
    monkeypatch.setenv("DRIVER_CORE_PROFILE", "dev")
    assert resolve("aws", "storage").key == "profile-key"


def test_service_specific_endpoint_variable(profile_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general")
    assert resolve("aws", "storage").endpoint == "http://general"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only")
    assert resolve("aws", "storage").endpoint == "http://s3-only"


def test_azure_connection_string(profile_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acct;",
    )
    opts = resolve("azure", "storage")
    assert (opts.key, opts.secret, opts.endpoint) == ("acct", "a2V5", "http://127.0.0.1:1/acct")


def test_errors_are_clear(profile_file: Path) -> None:
    with pytest.raises(errors.ValidationError, match=r"no profile named 'nope'.*dev"):
        resolve("aws", "storage", profile="nope")
    with pytest.raises(errors.ValidationError, match="is for provider 'azure', not 'aws'"):
        resolve("aws", "storage", profile="blob")
    with pytest.raises(errors.ValidationError, match="unknown connection option"):
        resolve("aws", "storage", secrett="x")
    profile_file.write_text("[profiles.broken\nkey = 1")
    with pytest.raises(errors.ValidationError, match="not valid TOML"):
        resolve("aws", "storage", profile="broken")


def test_secrets_not_in_repr(profile_file: Path) -> None:
    opts = resolve("aws", "storage", profile="dev", token="session-token")
    text = repr(opts)
    for secret in ("profile-key", "profile-secret", "session-token"):
        assert secret not in text
    assert "eu-west-1" in text


def test_connect_gives_drivers_of_the_profile(profile_file: Path) -> None:
    cloud = driver_core.connect("dev")
    assert cloud.provider == "aws"
    assert cloud.storage.region == "eu-west-1"
    assert cloud.storage.addressing == "path"
    assert cloud.storage is cloud.storage


def test_registry_errors_and_listing() -> None:
    assert providers("storage") == ["aws", "azure", "local"]
    assert providers("dns") == ["aws", "local", "powerdns"]
    assert providers("compute") == ["aws", "libvirt"]
    assert providers("loadbalancer") == ["aws"]
    with pytest.raises(errors.ValidationError, match="unknown kind"):
        driver_class("blockchain", "aws")
    with pytest.raises(errors.ValidationError, match=r"no storage driver for provider 'nimbus'.*aws, azure, local"):
        driver_class("storage", "nimbus")


def test_import_is_lazy() -> None:
    code = (
        "import sys, driver_core; "
        "loaded = [m for m in sys.modules if m.startswith('driver_core.')]; "
        "print(','.join(sorted(loaded)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert "providers" not in out and "storage" not in out and "transport" not in out, out
