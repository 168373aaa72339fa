"""AWS Signature Version 4, written here from the published algorithm.

One :class:`SigV4Signer` signs every request of one service in one region.
It is called by the transport for every attempt, so a retried request gets a
fresh timestamp and signature. Derived signing keys are cached per day.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ...transport import Request, encode_query

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers a proxy or the HTTP stack may change are left out of the signature.
_UNSIGNED_HEADERS = frozenset({"user-agent", "expect", "connection", "content-length", "accept-encoding", "accept"})


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


class SigV4Signer:
    """Sign requests for ``service`` in ``region`` with an access key, secret and optional session token."""

    def __init__(
        self,
        key: str,
        secret: str,
        region: str,
        service: str,
        *,
        token: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.key = key
        self._secret = secret
        self.region = region
        self.service = service
        self.token = token
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._keys: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"SigV4Signer(service={self.service!r}, region={self.region!r})"

    def signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            k = _hmac(("AWS4" + self._secret).encode("utf-8"), day)
            k = _hmac(k, self.region)
            k = _hmac(k, self.service)
            key = _hmac(k, "aws4_request")
            self._keys = {day: key}
        return key

    @staticmethod
    def payload_hash(req: Request) -> str:
        preset = req.headers.get("x-amz-content-sha256")
        if preset:
            return preset
        body = req.body
        if body is None:
            return EMPTY_SHA256
        if isinstance(body, (bytes, bytearray, memoryview)):
            return hashlib.sha256(body).hexdigest()
        return UNSIGNED_PAYLOAD

    def __call__(self, req: Request) -> None:
        now = self.clock()
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        parts = urlsplit(req.url)
        host = parts.hostname or ""
        if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)):
            host = f"{host}:{parts.port}"
        headers = req.headers
        for name in [n for n in headers if n.lower() in ("authorization", "x-amz-date", "x-amz-security-token")]:
            del headers[name]
        payload = self.payload_hash(req)
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload
        if self.token:
            headers["x-amz-security-token"] = self.token
        canon: dict[str, str] = {"host": host}
        for name, value in headers.items():
            lname = name.lower()
            if lname not in _UNSIGNED_HEADERS:
                canon[lname] = " ".join(str(value).split())
        signed = ";".join(sorted(canon))
        canonical_request = "\n".join(
            [
                req.method.upper(),
                parts.path or "/",
                encode_query(req.query),
                "".join(f"{k}:{canon[k]}\n" for k in sorted(canon)),
                signed,
                payload,
            ]
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        string_to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
        )
        signature = hmac.new(self.signing_key(day), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={self.key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
