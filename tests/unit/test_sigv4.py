"""The SigV4 signer against AWS's documented example and against botocore's signer."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from driver_core.providers.aws.auth import SigV4Signer
from driver_core.transport import Request

DOC_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = datetime(2013, 5, 24, 0, 0, 0, tzinfo=timezone.utc)


def test_aws_documented_get_object_example() -> None:
    # The GET Object example of the S3 SigV4 documentation (examplebucket/test.txt, Range 0-9).
    signer = SigV4Signer(DOC_KEY, DOC_SECRET, "us-east-1", "s3", clock=lambda: WHEN)
    req = Request("GET", "https://examplebucket.s3.amazonaws.com/test.txt", headers={"Range": "bytes=0-9"})
    signer(req)
    assert req.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


CASES = [
    ("GET", "https://s3.eu-west-1.amazonaws.com/bucket/plain.txt", [], {}, None),
    (
        "PUT",
        "http://127.0.0.1:9000/bucket/%C3%BCn%C3%AF/%E2%98%83%2B%26%3D%2A%28%29%2C%3B%40%24.txt",
        [],
        {"Content-Type": "text/plain", "x-amz-meta-owner": "me  and   you"},
        b"payload bytes",
    ),
    (
        "GET",
        "https://bucket.s3.us-west-2.amazonaws.com/",
        [("list-type", "2"), ("prefix", "a b+c/ü"), ("continuation-token", "abc/=+"), ("max-keys", "5")],
        {},
        None,
    ),
    ("POST", "https://s3.amazonaws.com/bucket/key", [("uploads", "")], {"Content-Type": "application/xml"}, b"<x/>"),
]


@pytest.mark.parametrize("method,url,query,headers,body", CASES)
@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
def test_matches_botocore(
    method: str,
    url: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes | None,
    token: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    botocore_auth = pytest.importorskip("botocore.auth")
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    region = "eu-west-1"
    ours = Request(method, url, list(query), dict(headers), body)
    SigV4Signer("AKIDEXAMPLE", "secret/key+example", region, "s3", token=token, clock=lambda: WHEN)(ours)

    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: WHEN.replace(tzinfo=None))
    theirs = AWSRequest(method=method, url=ours.full_url, headers=dict(headers), data=body or b"")
    botocore_auth.S3SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key+example", token), "s3", region).add_auth(theirs)
    assert ours.headers["x-amz-content-sha256"] == theirs.headers["X-Amz-Content-SHA256"]
    assert ours.headers["Authorization"] == theirs.headers["Authorization"]


def test_retry_is_resigned_and_secret_not_shown() -> None:
    times = iter([WHEN, WHEN.replace(second=5)])
    signer = SigV4Signer(DOC_KEY, DOC_SECRET, "us-east-1", "s3", clock=lambda: next(times))
    req = Request("GET", "https://s3.amazonaws.com/b/k")
    signer(req)
    first = req.headers["Authorization"]
    signer(req)
    assert req.headers["Authorization"] != first
    assert req.headers["x-amz-date"].endswith("000005Z")
    assert list(req.headers).count("Authorization") == 1
    assert DOC_SECRET not in repr(signer)
