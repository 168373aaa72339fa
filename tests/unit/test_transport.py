"""The transport's retry policy, redaction and pagination, against a scripted loopback server."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from driver_core import errors
from driver_core.transport import (
    Request,
    RetryPolicy,
    Transport,
    paginate,
    parse_retry_after,
    redact_headers,
    redact_url,
)


class Scripted:
    """A loopback HTTP server answering with a scripted list of (status, headers) and recording requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                payload = b"ok" if status < 400 else b"nope"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


def make(sleeps: list[float], **kw: Any) -> Transport:
    t = Transport("test", **kw)
    t.sleep = sleeps.append
    return t


def test_retries_5xx_and_rewinds_file_body(server: Scripted) -> None:
    server.script = [(500, {}), (503, {}), (200, {})]
    sleeps: list[float] = []
    signed: list[str] = []

    def signer(req: Request) -> None:
        signed.append(req.method)
        req.headers["Authorization"] = f"attempt-{len(signed)}"

    body = io.BytesIO(b"xxpayload")
    body.seek(2)
    resp = make(sleeps, signer=signer).request("PUT", server.url + "/obj", body=body)
    assert resp.status_code == 200
    assert [r["body"] for r in server.seen] == [b"payload"] * 3
    assert [r["headers"]["Authorization"] for r in server.seen] == ["attempt-1", "attempt-2", "attempt-3"]
    assert len(sleeps) == 2 and 0 < sleeps[0] <= 0.25 and 0 < sleeps[1] <= 0.5


def test_retry_after_seconds_and_date(server: Scripted) -> None:
    server.script = [(429, {"Retry-After": "2"}), (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), (200, {})]
    sleeps: list[float] = []
    make(sleeps).request("GET", server.url)
    assert sleeps == [2.0, 0.0]


def test_gives_up_after_attempts(server: Scripted) -> None:
    server.script = [(502, {"x-request-id": "rid-1"})] * 3
    sleeps: list[float] = []
    with pytest.raises(errors.ProviderError) as info:
        make(sleeps, retry=RetryPolicy(attempts=3)).request("GET", server.url)
    assert info.value.status == 502 and info.value.request_id == "rid-1"
    assert len(server.seen) == 3 and len(sleeps) == 2


def test_client_errors_are_not_retried(server: Scripted) -> None:
    for status, cls in [
        (400, errors.InvalidRequest),
        (403, errors.AuthError),
        (404, errors.NotFound),
        (409, errors.Conflict),
    ]:
        server.script = [(status, {})]
        server.seen.clear()
        with pytest.raises(cls):
            make([]).request("GET", server.url)
        assert len(server.seen) == 1


def test_unrewindable_body_is_not_resent(server: Scripted) -> None:
    server.script = [(500, {}), (200, {})]
    with pytest.raises(errors.ProviderError):
        make([]).request("PUT", server.url, body=iter([b"once"]))
    assert len(server.seen) == 1


def test_connection_refused_is_retried_then_unreachable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    with pytest.raises(errors.Unreachable, match=f"127.0.0.1:{port}"):
        make(sleeps, retry=RetryPolicy(attempts=3)).request("GET", f"http://127.0.0.1:{port}/x?sig=SECRET")
    assert len(sleeps) == 2


def test_debug_log_hides_credentials(server: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    def signer(req: Request) -> None:
        req.headers["Authorization"] = "Bearer TOPSECRET"
        req.headers["x-amz-security-token"] = "TOKENSECRET"

    make([], signer=signer).request("GET", server.url + "/p", query=[("X-Amz-Signature", "SIGSECRET"), ("a", "b")])
    assert "GET" in caplog.text and "a=b" in caplog.text
    for secret in ("TOPSECRET", "TOKENSECRET", "SIGSECRET"):
        assert secret not in caplog.text


def test_redaction_helpers() -> None:
    assert (
        redact_url("https://h/p?a=1&Signature=zzz&token=t") == "https://h/p?a=1&Signature=<redacted>&token=<redacted>"
    )
    assert redact_url("https://user:pw@h/p?x=1") == "https://h/p?x=1"
    assert redact_headers({"Authorization": "x", "Cookie": "c", "Accept": "y"}) == {
        "Authorization": "<redacted>",
        "Cookie": "<redacted>",
        "Accept": "y",
    }


def test_retry_delays_grow_with_jitter_and_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1
    assert policy.delay(3, retry_after=7.5) == 7.5


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


def test_paginate_follows_tokens_and_stops_on_loops() -> None:
    pages = {None: ([1, 2], "a"), "a": ([3], "b"), "b": ([4, 5], None)}
    assert list(paginate(lambda t: pages[t])) == [1, 2, 3, 4, 5]
    looping = {None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}
    with pytest.raises(errors.ProviderError, match="twice"):
        list(paginate(lambda t: looping[t]))
    assert list(paginate(lambda t: ([], None))) == []


def test_throttling_answered_with_400_is_retried_by_its_code(server: Scripted) -> None:
    from driver_core.transport import ErrorInfo

    server.script = [(400, {"x-code": "Throttling"}), (200, {})]
    sleeps: list[float] = []
    transport = make(
        sleeps,
        error_parser=lambda r: ErrorInfo(r.headers.get("x-code"), "slow down"),
        code_map={"Throttling": errors.RateLimited},
    )
    assert transport.request("GET", server.url).status_code == 200
    assert len(server.seen) == 2 and len(sleeps) == 1


def test_paginate_sequence_pages_a_whole_list() -> None:
    from driver_core.transport import paginate_sequence

    assert list(paginate_sequence(list(range(13)), 5)) == list(range(13))
    assert list(paginate_sequence([], 5)) == []
    assert list(paginate_sequence([1, 2], 2)) == [1, 2]
