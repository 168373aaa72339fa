"""The one exception tree of driver-core and the one HTTP-status map.

Every failure a caller can see is a :class:`DriverError`. Errors that come from
a provider's answer carry the HTTP status, the provider's own error code and
its request id, so a user can quote them to the provider's support. No message
built here ever contains a credential: the transport redacts before it builds.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any


class DriverError(Exception):
    """Base of every error raised by driver-core."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id

    def reworded(self, message: str) -> DriverError:
        """A copy of this error with a clearer message (status, code and request id kept)."""
        clone = copy.copy(self)
        clone.message = message
        clone.args = (message,)
        return clone

    def __str__(self) -> str:
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code:
            details.append(f"code {self.code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        prefix = f"{self.provider}: " if self.provider else ""
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{prefix}{self.message}{suffix}"


class ValidationError(DriverError, ValueError):
    """The caller's input was rejected before anything was sent."""


class NotSupported(DriverError):
    """The provider cannot do what was asked."""

    def __init__(self, provider: str, method: str, hint: str = "") -> None:
        text = f"{method} is not supported by the {provider} provider"
        super().__init__(f"{text}. {hint}".strip() if hint else text, provider=provider)
        self.method = method


class Unreachable(DriverError):
    """The endpoint could not be reached (DNS, refused connection, reset, TLS)."""


class Timeout(DriverError):
    """A request or a wait took longer than its timeout."""


class ChecksumMismatch(DriverError):
    """Data read back or acknowledged by the provider did not match what was sent."""


class DestinationExists(DriverError, FileExistsError):
    """A download would overwrite a file and ``overwrite`` was not set."""


class ProviderError(DriverError):
    """The provider answered with an error. ``status``, ``code`` and ``request_id`` say which."""


class InvalidRequest(ProviderError):
    """The provider rejected the request as malformed or invalid (HTTP 400, 411, 416, 422)."""


class AuthError(ProviderError):
    """The credentials were missing, wrong, expired or not allowed to do this (HTTP 401/403)."""


class NotFound(ProviderError):
    """The resource does not exist (HTTP 404)."""


class Conflict(ProviderError):
    """The request conflicts with the resource's state (HTTP 409/412): exists, not empty, busy."""


class RateLimited(ProviderError):
    """The provider throttled the caller (HTTP 429, or a provider's throttling code)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PartialFailure(DriverError):
    """A multi-step or bulk operation failed part way.

    ``created`` lists everything that exists because of the call (so the caller
    can clean up or resume); ``errors`` lists every failure that occurred.
    """

    def __init__(
        self,
        message: str,
        *,
        created: Sequence[Any] = (),
        errors: Sequence[BaseException] = (),
        provider: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.created = list(created)
        self.errors = list(errors)


#: The one map from an HTTP status to the exception class raised for it.
STATUS_ERRORS: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    411: InvalidRequest,
    412: Conflict,
    416: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    code: str | None = None,
    request_id: str | None = None,
    code_map: dict[str, type[ProviderError]] | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """Build the exception for a provider's error answer.

    A provider-specific ``code_map`` (error code to class) wins over the status,
    because some providers use one status for several meanings (S3 answers 503
    ``SlowDown`` when it throttles, 400 ``RequestTimeout`` and so on).
    """
    cls: type[ProviderError] = ProviderError
    if code and code_map and code in code_map:
        cls = code_map[code]
    elif status in STATUS_ERRORS:
        cls = STATUS_ERRORS[status]
    kw: dict[str, Any] = {"provider": provider, "status": status, "code": code, "request_id": request_id}
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after, **kw)
    return cls(message, **kw)
