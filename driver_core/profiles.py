"""Connection options and credentials, resolved the same way for every front end.

Order of precedence, first wins, field by field:

1. arguments given by the caller (Python, an Ansible task, a Salt call, the CLI);
2. the named profile in the profile file (``profile=`` or ``DRIVER_CORE_PROFILE``);
3. the provider's own environment variables (``AWS_ACCESS_KEY_ID``, ``AZURE_STORAGE_KEY``, ...).

The profile file is TOML, at ``$DRIVER_CORE_PROFILES`` or
``~/.config/driver-core/profiles.toml``::

    [profiles.dev-s3]
    provider = "aws"
    key = "AKIA..."
    secret = "..."
    region = "eu-west-1"
    endpoint = "http://127.0.0.1:5000"      # optional: an S3-compatible service

    [profiles.dev-s3.options]
    addressing = "path"
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ValidationError

log = logging.getLogger("driver_core.profiles")

SECRET_FIELDS = ("key", "secret", "token")

#: Provider-native environment variables, per provider and field, first match wins.
#: A ``{kind}`` entry is looked up before the provider-wide one.
ENVIRONMENT: dict[str, dict[str, tuple[str, ...]]] = {
    "aws": {
        "key": ("AWS_ACCESS_KEY_ID",),
        "secret": ("AWS_SECRET_ACCESS_KEY",),
        "token": ("AWS_SESSION_TOKEN",),
        "region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
        "endpoint:storage": ("AWS_ENDPOINT_URL_S3",),
        "endpoint": ("AWS_ENDPOINT_URL",),
    },
    "azure": {
        "key": ("AZURE_STORAGE_ACCOUNT",),
        "secret": ("AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCESS_KEY"),
        "token": ("AZURE_STORAGE_SAS_TOKEN",),
        "endpoint:storage": ("AZURE_STORAGE_BLOB_ENDPOINT",),
    },
    "local": {
        "endpoint:storage": ("DRIVER_CORE_LOCAL_STORAGE",),
        "endpoint:dns": ("DRIVER_CORE_LOCAL_DNS",),
    },
    "libvirt": {
        "endpoint": ("LIBVIRT_DEFAULT_URI",),
    },
    "powerdns": {
        "secret": ("PDNS_API_KEY",),
        "endpoint": ("PDNS_API_URL",),
    },
}


@dataclass
class ConnectionOptions:
    """The connection options, the same words in every front end."""

    provider: str
    key: str | None = None
    secret: str | None = None
    token: str | None = None
    region: str | None = None
    endpoint: str | None = None
    validate_certs: bool | str = True
    timeout: float | None = None
    profile: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value is not None:
                value = "<set>"
            shown.append(f"{f.name}={value!r}")
        return f"ConnectionOptions({', '.join(shown)})"


def profile_path() -> Path:
    env = os.environ.get("DRIVER_CORE_PROFILES")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "driver-core" / "profiles.toml"


def load_profiles(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """All profiles in the profile file (an empty dict when there is no file)."""
    path = path or profile_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValidationError(f"cannot read the profile file {path}: {exc.strerror}") from None
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning("the profile file %s is readable by other users; chmod 600 it", path)
    except OSError:
        pass
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # The parser's message names a line and column, never a value.
        raise ValidationError(f"the profile file {path} is not valid TOML: {exc}") from None
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ValidationError(f"the profile file {path} must hold [profiles.NAME] tables")
    return profiles


def _from_environment(provider: str, kind: str | None, name: str) -> str | None:
    table = ENVIRONMENT.get(provider, {})
    for key in (f"{name}:{kind}", name):
        for var in table.get(key, ()):
            value = os.environ.get(var)
            if value:
                return value
    return None


def _azure_connection_string(text: str) -> dict[str, str]:
    parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
    found = {}
    if "AccountName" in parts:
        found["key"] = parts["AccountName"]
    if "AccountKey" in parts:
        found["secret"] = parts["AccountKey"]
    if "SharedAccessSignature" in parts:
        found["token"] = parts["SharedAccessSignature"]
    if "BlobEndpoint" in parts:
        found["endpoint"] = parts["BlobEndpoint"]
    return found


def resolve(provider: str | None = None, kind: str | None = None, **given: Any) -> ConnectionOptions:
    """Resolve the connection options for ``provider`` from arguments, profile and environment."""
    unknown = set(given) - {f.name for f in fields(ConnectionOptions)}
    if unknown:
        raise ValidationError(
            f"unknown connection option(s): {', '.join(sorted(unknown))}. Provider-specific "
            "settings go in options={...}"
        )
    values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    profile_name = values.get("profile") or os.environ.get("DRIVER_CORE_PROFILE")
    if profile_name:
        profiles = load_profiles()
        if profile_name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ValidationError(f"no profile named {profile_name!r} in {profile_path()} (profiles there: {known})")
        for k, v in profiles[profile_name].items():
            if k == "options" and isinstance(v, dict):
                values["options"] = {**v, **values.get("options", {})}
            else:
                values.setdefault(k, v)
        values["profile"] = profile_name
    if provider and values.get("provider") and values["provider"] != provider:
        raise ValidationError(f"profile {profile_name!r} is for provider {values['provider']!r}, not {provider!r}")
    provider = provider or values.get("provider")
    if not provider:
        raise ValidationError("no provider given: pass provider=... or a profile that names one")
    values["provider"] = provider
    if provider == "azure" and os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):
        for k, v in _azure_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"]).items():
            values.setdefault(k, v)
    for name in ("key", "secret", "token", "region", "endpoint"):
        if values.get(name) is None:
            env = _from_environment(provider, kind, name)
            if env is not None:
                values[name] = env
    if isinstance(values.get("validate_certs"), str) and values["validate_certs"].lower() in ("true", "false"):
        values["validate_certs"] = values["validate_certs"].lower() == "true"
    try:
        known_fields = {f.name for f in fields(ConnectionOptions)}
        bad = set(values) - known_fields
        if bad:
            raise ValidationError(f"unknown key(s) {', '.join(sorted(bad))} in profile {profile_name!r}")
        return ConnectionOptions(**values)
    except TypeError as exc:  # pragma: no cover - guarded above
        raise ValidationError(str(exc)) from None
