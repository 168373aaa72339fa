"""What every AWS driver shares: credentials to a signer, and XML error answers."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from ...errors import AuthError, ProviderError, RateLimited, ValidationError
from ...profiles import ConnectionOptions
from ...transport import ErrorInfo
from ...xmlutil import parse, text
from .auth import SigV4Signer

#: Error codes every AWS API uses the same way (credentials and throttling); each driver
#: adds its service's own codes to these.
COMMON_CODES: dict[str, type[ProviderError]] = {
    **dict.fromkeys(
        [
            "AccessDenied", "AuthFailure", "ExpiredToken", "IncompleteSignature", "InvalidAccessKeyId",
            "InvalidClientTokenId", "InvalidToken", "MissingAuthenticationToken", "SignatureDoesNotMatch",
            "UnauthorizedOperation",
        ],
        AuthError,
    ),
    **dict.fromkeys(["RequestLimitExceeded", "SlowDown", "Throttling", "ThrottlingException"], RateLimited),
}  # fmt: skip


def signer_for(
    options: ConnectionOptions, provider: str, region: str, service: str, *, what: str, anonymous: bool = False
) -> SigV4Signer | None:
    """The SigV4 signer for ``service`` in ``region`` from the connection options.

    A key without a secret (or the reverse) is always an error; no credentials at
    all is one too unless ``anonymous`` access makes sense for the service (S3).
    """
    if bool(options.key) != bool(options.secret) or not (options.key or anonymous):
        hint = ", or neither for anonymous access" if anonymous else ""
        raise ValidationError(
            f"{what} needs an access key and its secret: pass key and secret, or set "
            f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY{hint}",
            provider=provider,
        )
    if not (options.key and options.secret):
        return None
    return SigV4Signer(options.key, options.secret, region, service, token=options.token)


def error_info(resp: requests.Response) -> ErrorInfo:
    """Code, message and request id from any AWS XML error answer.

    Understands S3's ``<Error><Code>``, the ``<ErrorResponse><Error><Code>`` of the
    REST/XML and query APIs (Route 53, EC2, ELB), and Route 53's
    ``<InvalidChangeBatch><Messages><Message>`` (every message is kept).
    """
    request_id = resp.headers.get("x-amz-request-id") or resp.headers.get("x-amzn-RequestId")
    code = message = None
    if resp.content and resp.content.lstrip().startswith(b"<"):
        root = parse(resp.content, "aws")
        error = root if root.find("Code") is not None else root.find("Error")
        if error is None:
            error = root.find("Errors/Error")  # EC2's <Response><Errors><Error>
        code, message = text(error, "Code"), text(error, "Message")
        messages = [m.text.strip() for m in root.findall("Messages/Message") if m.text]
        if messages:
            code, message = code or root.tag, "; ".join(messages)
        request_id = text(root, "RequestId") or text(root, "RequestID") or request_id
    return ErrorInfo(code, message or f"HTTP {resp.status_code} {resp.reason}", request_id)


def endpoint_url(endpoint: str, provider: str) -> str:
    """An endpoint as an http(s) URL without a trailing slash (``host`` alone means https)."""
    url = endpoint.rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"endpoint {endpoint!r} is not an http(s) URL", provider=provider)
    return url
