"""Azure Storage request authorisation: Shared Key signing, or a SAS token.

:class:`SharedKeySigner` is the transport's ``signer`` hook for the Blob
service. With an account key it signs every attempt with the Shared Key scheme
as Microsoft documents it ("Authorize with Shared Key", service version
2015-02-21 and later); with a shared access signature it only appends the SAS
query parameters. Written here from the published algorithm:

    StringToSign = VERB \\n Content-Encoding \\n Content-Language \\n Content-Length \\n
                   Content-MD5 \\n Content-Type \\n Date \\n If-Modified-Since \\n If-Match \\n
                   If-None-Match \\n If-Unmodified-Since \\n Range \\n
                   CanonicalizedHeaders CanonicalizedResource
    Signature    = Base64(HMAC-SHA256(Base64Decode(account key), UTF-8(StringToSign)))
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

from ...errors import ValidationError
from ...transport import Request

#: The Blob service version every request asks for (Azurite 3.35 accepts up to 2025-11-05).
API_VERSION = "2021-08-06"

#: The standard headers of the string to sign, in the documented order (Date stays empty: we send x-ms-date).
_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_REPLACED = frozenset({"authorization", "x-ms-date", "x-ms-version"})
# The service sorts names the way a culture-aware comparison does, not by code point:
# "_" and "-" come before digits and letters ("x-ms-meta-i_" before "x-ms-meta-i0").
_COLLATE = str.maketrans({"_": "\x01", "-": "\x02"})


def collation_key(name: str) -> str:
    """Sort key that orders lower-case ASCII header and parameter names as the service does."""
    return name.translate(_COLLATE)


def body_length(body: object) -> int | None:
    """The number of bytes ``body`` will send, or None when that cannot be known in advance."""
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray, memoryview)):
        return memoryview(body).nbytes
    try:
        return len(body)  # type: ignore[arg-type]  # SliceReader and friends define __len__
    except TypeError:
        return None


class SharedKeySigner:
    """Authorises Blob service requests for one storage account.

    ``key`` is the base64 account key; with ``sas_token`` instead, requests
    carry the SAS query parameters and are not signed. The key is decoded
    once and never shown by ``repr``/``str`` or in any error message.
    """

    def __init__(
        self,
        account: str,
        key: str | None = None,
        *,
        sas_token: str | None = None,
        version: str = API_VERSION,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not key and not sas_token:
            raise ValidationError("an Azure account key or a SAS token is needed", provider="azure")
        self.account = account
        self.version = version
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._key: bytes | None = None
        if key:
            try:
                self._key = base64.b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError(
                    "the Azure storage account key is not valid base64 (copy it from the portal as is)",
                    provider="azure",
                ) from None
        self._sas: list[tuple[str, str]] = (
            [] if self._key is not None or not sas_token else parse_qsl(sas_token.lstrip("?"), keep_blank_values=True)
        )

    def __repr__(self) -> str:
        mode = "shared-key" if self._key is not None else "sas"
        return f"SharedKeySigner(account={self.account!r}, mode={mode!r}, version={self.version!r})"

    __str__ = __repr__

    def __call__(self, req: Request) -> None:
        """Prepare ``req`` for sending: fix its length, then sign it (or add the SAS)."""
        for name in [n for n in req.headers if n.lower() in _REPLACED]:
            del req.headers[name]
        self._fix_length(req)
        req.headers["x-ms-version"] = self.version
        if self._key is None:
            req.query.extend(self._sas)
            return
        req.headers["x-ms-date"] = email.utils.formatdate(self.clock().timestamp(), usegmt=True)
        signature = base64.b64encode(
            hmac.new(self._key, self.string_to_sign(req).encode("utf-8"), hashlib.sha256).digest()
        ).decode("ascii")
        req.headers["Authorization"] = f"SharedKey {self.account}:{signature}"

    @staticmethod
    def _fix_length(req: Request) -> None:
        """Make the Content-Length we sign the one requests sends.

        A file-like body's length comes from ``len()``; an empty one becomes
        ``b""`` because requests would send an empty stream chunked.
        """
        if req.body is None:
            return
        length = body_length(req.body)
        if length == 0:
            req.body = b""
        if any(n.lower() == "content-length" for n in req.headers):
            return
        if length is None:
            raise ValidationError("Azure requests need a body of known length", provider="azure")
        req.headers["Content-Length"] = str(length)

    def string_to_sign(self, req: Request) -> str:
        """The Shared Key string to sign for ``req`` (its headers already final)."""
        headers = {name.lower(): str(value).strip() for name, value in req.headers.items()}
        lines = [req.method.upper()]
        for name in _STANDARD_HEADERS:
            value = headers.get(name, "")
            # Service version 2015-02-21 and later: a zero Content-Length is signed as "".
            lines.append("" if name == "content-length" and value == "0" else value)
        return "\n".join(lines) + "\n" + self.canonicalized_headers(headers) + self.canonicalized_resource(req)

    @staticmethod
    def canonicalized_headers(headers: dict[str, str]) -> str:
        """Every ``x-ms-`` header as ``name:value\\n``, names lower-cased and sorted as the service sorts."""
        names = sorted((n for n in headers if n.startswith("x-ms-")), key=collation_key)
        return "".join(f"{name}:{headers[name]}\n" for name in names)

    def canonicalized_resource(self, req: Request) -> str:
        """``/account/encoded-path`` then ``\\nname:value`` per query parameter (sorted, decoded)."""
        path = urlsplit(req.url).path or "/"
        grouped: dict[str, list[str]] = {}
        for name, value in req.query:
            grouped.setdefault(name.lower(), []).append(value)
        params = "".join(f"\n{name}:{','.join(sorted(grouped[name]))}" for name in sorted(grouped, key=collation_key))
        return f"/{self.account}{path}{params}"
