"""Small encodings providers share: base64 digests, ETags and timestamps."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from email.utils import parsedate_to_datetime


def b64(digest: bytes) -> str:
    """A digest in base64, as Content-MD5 headers carry it."""
    return base64.b64encode(digest).decode("ascii")


def md5_hex_from_b64(value: str | None) -> str | None:
    """The hex form of a base64 MD5 (None when absent or malformed)."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 16 else None


def strip_etag(value: str | None) -> str | None:
    """An ETag without its quotes."""
    return value.strip('"') if value else None


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 (``2026-01-02T03:04:05.000Z``) or HTTP date, or None when absent or malformed."""
    if not value:
        return None
    try:
        if value[:4].isdigit():
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
