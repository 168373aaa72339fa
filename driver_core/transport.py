"""The only place in driver-core that talks HTTP.

A :class:`Transport` wraps one :class:`requests.Session` and adds what every
provider needs: a timeout on every request, TLS verification on by default, one
retry policy (jittered exponential backoff on connection errors, 429 and 5xx,
honouring ``Retry-After``), a signing hook called again for every attempt (so a
retried request carries a fresh date and signature) with the body rewound, the
mapping of error answers onto :mod:`driver_core.errors`, and debug logging that
never shows a credential.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import __version__
from .errors import DriverError, ProviderError, RateLimited, Timeout, Unreachable, error_for_status

log = logging.getLogger("driver_core.transport")

Body = bytes | IO[bytes] | Iterable[bytes] | None
T = TypeVar("T")

#: Header names whose values are never logged.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-amz-security-token",
        "x-auth-token",
        "x-api-key",
        "x-storage-token",
        "x-ms-copy-source-authorization",
        "x-ms-encryption-key",
        "x-amz-server-side-encryption-customer-key",
    }
)
#: Query parameter names (lower case) whose values are never logged.
SENSITIVE_QUERY = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "sig",
        "signature",
        "token",
        "access_token",
        "api-key",
        "apikey",
        "api_key",
        "key",
        "secret",
        "password",
    }
)
REDACTED = "<redacted>"
_PY = "{}.{}.{}".format(*sys.version_info[:3])
_USER_AGENT = f"driver-core/{__version__} python/{_PY} requests/{requests.__version__}"


def quote_value(value: str, safe: str = "-_.~") -> str:
    """Percent-encode ``value`` as RFC 3986 asks (every byte but the unreserved ones)."""
    return quote(value, safe=safe)


def encode_query(query: Sequence[tuple[str, str]]) -> str:
    """Encode query parameters in a canonical (sorted, fully escaped) form.

    Sending the same string that the signers sign means requests never re-encodes it.
    """
    return "&".join(f"{k}={v}" for k, v in sorted((quote_value(k), quote_value(v)) for k, v in query))


@dataclass(slots=True)
class Request:
    """One attempt at an HTTP request, as a signer sees it."""

    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = None

    @property
    def full_url(self) -> str:
        return f"{self.url}?{encode_query(self.query)}" if self.query else self.url


Signer = Callable[[Request], None]
ErrorParser = Callable[[requests.Response], "ErrorInfo"]


@dataclass(slots=True)
class ErrorInfo:
    """What a provider's error answer says: its code, message and request id."""

    code: str | None
    message: str
    request_id: str | None = None


@dataclass(slots=True)
class RetryPolicy:
    """The one retry policy: how many attempts and how long to wait between them."""

    attempts: int = 5
    backoff: float = 0.25
    max_backoff: float = 20.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2.0 ** (attempt - 1)))
        # "Equal jitter": never zero, never more than the ceiling, and spread out.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds: float = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def redact_url(url: str) -> str:
    """The URL with the values of credential-bearing query parameters hidden."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = []
    for item in parts.query.split("&"):
        name, sep, _ = item.partition("=")
        pairs.append(f"{name}={REDACTED}" if sep and name.lower() in SENSITIVE_QUERY else item)
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}?{'&'.join(pairs)}"


_QUERY_SECRET = re.compile(
    r"([?&](?:" + "|".join(re.escape(n) for n in sorted(SENSITIVE_QUERY)) + r")=)[^&\s\"']*", re.IGNORECASE
)


class _RedactingFilter(logging.Filter):
    """Hides credential query parameters in urllib3's own debug lines (it logs whole URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        cleaned = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
        if cleaned != text:
            record.msg, record.args = cleaned, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactingFilter())


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


class _Rewinder:
    """Remembers where a body starts so a retry can send it again."""

    def __init__(self, body: Body) -> None:
        self.body = body
        self.offset: int | None = None
        self.rewindable = True
        if body is None or isinstance(body, (bytes, bytearray, memoryview)):
            return
        seek = getattr(body, "seek", None)
        tell = getattr(body, "tell", None)
        if seek is not None and tell is not None:
            try:
                self.offset = tell()
                return
            except (OSError, ValueError):
                pass
        self.rewindable = False

    def rewind(self) -> bool:
        if not self.rewindable:
            return False
        if self.offset is not None:
            self.body.seek(self.offset)  # type: ignore[union-attr]
        return True


def _short_reason(exc: BaseException) -> str:
    """A human reason for a connection failure, without the URL requests puts in its text."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    reason = ""
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            reason = cur.strerror
        cur = (
            cur.__cause__
            or cur.__context__
            or (cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None)
        )
    if reason:
        return reason
    text = type(exc).__name__
    return {"ConnectTimeout": "connection timed out", "ReadTimeout": "read timed out", "SSLError": "TLS error"}.get(
        text, text
    )


_URLLIB3_MAJOR = int(str(getattr(urllib3, "__version__", "2")).split(".")[0])


class _Adapter(HTTPAdapter):
    """requests' adapter with bodies sent in 256 KiB writes instead of urllib3's 16 KiB:
    a 64 MiB upload takes 256 reads and writes, not 4096."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if _URLLIB3_MAJOR >= 2:  # urllib3 1.x has no blocksize
            kwargs.setdefault("blocksize", 256 * 1024)
        super().init_poolmanager(*args, **kwargs)


class Transport:
    """An HTTP client bound to one provider: timeouts, retries, signing, errors, logging.

    Safe to share between threads (requests' connection pool is thread-safe and
    the transport keeps no per-request state on itself).
    """

    def __init__(
        self,
        provider: str,
        *,
        signer: Signer | None = None,
        error_parser: ErrorParser | None = None,
        code_map: dict[str, type[ProviderError]] | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        pool_size: int = 16,
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.signer = signer
        self.error_parser = error_parser or _default_error_parser
        self.code_map = code_map or {}
        self.timeout = timeout
        if verify is True:  # the CA-bundle variables requests would read on every request
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.sleep: Callable[[float], None] = time.sleep
        self.session = session or requests.Session()
        # The environment (proxies, NO_PROXY, CA bundle) is read once per host, not by requests on
        # every call; this also keeps ~/.netrc from replacing a signed Authorization header.
        self.session.trust_env = False
        self._proxies: dict[str, dict[str, str]] = {}
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers["User-Agent"] = _USER_AGENT

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        query: Sequence[tuple[str, str]] | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
        accept: Callable[[requests.Response], bool] | None = None,
    ) -> requests.Response:
        """Send a request, retrying as the policy says, and return the successful response.

        ``accept`` decides which answers count as success (default: 2xx; redirects
        are not followed, so a 3xx is an error the provider's parser explains).
        Any other answer raises the matching :class:`~driver_core.errors.ProviderError`.
        """
        if isinstance(query, Mapping):
            query = list(query.items())
        rewinder = _Rewinder(body)
        policy = self.retry
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                rewinder.rewind()  # retries only happen for rewindable bodies
            req = Request(method, url, list(query or ()), dict(headers or {}), body)
            if req.body is not None and not isinstance(req.body, bytes) and _is_empty(req.body):
                req.body = b""  # requests would send an empty file with chunked encoding
            if self.signer is not None:
                self.signer(req)
            debug = log.isEnabledFor(logging.DEBUG)
            started = time.perf_counter()
            try:
                resp = self.session.request(
                    method,
                    req.full_url,
                    headers=req.headers,
                    data=req.body,
                    stream=stream,
                    timeout=self.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    proxies=self._proxies_for(req.url),
                )
            except requests.exceptions.RequestException as exc:
                last_error = self._transport_error(exc, req)
                if debug:
                    log.debug("%s %s failed (attempt %d): %s", method, redact_url(req.full_url), attempt, last_error)
                if attempt < policy.attempts and rewinder.rewindable:
                    self.sleep(policy.delay(attempt))
                    continue
                raise last_error from None
            if debug:
                log.debug(
                    "%s %s -> %d in %.1f ms (attempt %d) request headers %s",
                    method,
                    redact_url(req.full_url),
                    resp.status_code,
                    (time.perf_counter() - started) * 1000,
                    attempt,
                    redact_headers(req.headers),
                )
            if accept(resp) if accept is not None else 200 <= resp.status_code < 300:
                return resp
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            last_error = self.error_from_response(resp, retry_after=retry_after)
            # Some providers throttle with a 400 and a code (Route 53, EC2): the code map says so.
            retryable = resp.status_code in policy.statuses or isinstance(last_error, RateLimited)
            if (
                retryable
                and attempt < policy.attempts
                and rewinder.rewindable
                and (retry_after is None or retry_after <= policy.max_retry_after)
            ):
                wait = policy.delay(attempt, retry_after)
                log.debug("retrying in %.2f s after HTTP %d", wait, resp.status_code)
                self.sleep(wait)
                continue
            raise last_error

    def _proxies_for(self, url: str) -> dict[str, str]:
        origin = "/".join(url.split("/", 3)[:3])
        proxies = self._proxies.get(origin)
        if proxies is None:
            proxies = self._proxies[origin] = requests.utils.get_environ_proxies(origin + "/")
        return proxies

    def error_from_response(self, resp: requests.Response, *, retry_after: float | None = None) -> ProviderError:
        """Turn an error answer into the exception from the error tree."""
        try:
            info = self.error_parser(resp)
        except Exception:  # a malformed error body must not hide the error itself
            info = ErrorInfo(None, resp.reason or "error")
        finally:
            resp.close()
        return error_for_status(
            resp.status_code,
            info.message or f"HTTP {resp.status_code} {resp.reason}",
            provider=self.provider,
            code=info.code,
            request_id=info.request_id,
            code_map=self.code_map,
            retry_after=retry_after,
        )

    def _transport_error(self, exc: requests.exceptions.RequestException, req: Request) -> DriverError:
        parts = urlsplit(req.url)
        where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        reason = _short_reason(exc)
        if isinstance(exc, requests.exceptions.Timeout):
            return Timeout(f"{req.method} to {where} timed out ({reason})", provider=self.provider)
        if isinstance(exc, requests.exceptions.SSLError):
            return Unreachable(
                f"TLS verification with {where} failed ({reason}); pass validate_certs=False only for a"
                " server you trust, or point validate_certs at its CA bundle",
                provider=self.provider,
            )
        return Unreachable(
            f"could not reach {where} ({reason}); check the endpoint and that the service is up",
            provider=self.provider,
        )


def iter_body(resp: requests.Response, chunk_size: int, what: str, provider: str) -> Iterator[bytes]:
    """The body of a streamed response in chunks; a connection lost half way is a clean error."""
    received = 0
    try:
        # Raw bytes as stored: a Content-Encoding (gzip) is part of the object, not undone here,
        # so sizes and checksums match what the provider announced.
        for chunk in resp.raw.stream(chunk_size, decode_content=False):
            received += len(chunk)
            yield chunk
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise Unreachable(
            f"the connection was lost while reading {what} after {received} bytes ({_short_reason(exc)})",
            provider=provider,
        ) from None
    finally:
        resp.close()


def _is_empty(body: Any) -> bool:
    return hasattr(body, "read") and hasattr(body, "__len__") and len(body) == 0


def _default_error_parser(resp: requests.Response) -> ErrorInfo:
    text = resp.text[:500].strip() if resp.content else ""
    return ErrorInfo(None, text or f"HTTP {resp.status_code} {resp.reason}", resp.headers.get("x-request-id"))


def paginate(
    fetch: Callable[[Any], tuple[Iterable[T], Any]],
    *,
    start: Any = None,
) -> Iterator[T]:
    """The one pagination helper: yield every item of every page.

    ``fetch(token)`` returns ``(items, next_token)``; iteration stops when the
    next token is empty. A provider that hands back a token it already gave is
    an error, never an endless loop.
    """
    token = start
    seen: set[Any] = set()
    while True:
        items, token = fetch(token)
        yield from items
        if not token:
            return
        if token in seen:
            raise ProviderError(f"the provider returned the page token {token!r} twice; stopping")
        seen.add(token)


def paginate_sequence(items: Sequence[T], page_size: int) -> Iterator[T]:
    """Pages of a list a provider hands over whole (PowerDNS, libvirt, a zone file), through
    :func:`paginate`, so ``page_size`` means the same there as for providers that page."""

    def fetch(offset: int | None) -> tuple[Sequence[T], int | None]:
        start = offset or 0
        end = start + page_size
        return items[start:end], (end if end < len(items) else None)

    return paginate(fetch)
