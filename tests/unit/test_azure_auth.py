"""The Azure Shared Key signer, checked against strings written out by hand.

Every expected string to sign below was composed by hand from Microsoft's
"Authorize with Shared Key" documentation (service version 2015-02-21 and
later): twelve lines (verb, Content-Encoding, Content-Language,
Content-Length with 0 as "", Content-MD5, Content-Type, Date,
If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range), then
the x-ms- headers lower-cased and sorted as the service sorts them, then
"/account" + encoded path and the decoded query parameters sorted by name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
import requests

from driver_core import get_driver
from driver_core.errors import ValidationError
from driver_core.providers.azure.auth import SharedKeySigner
from driver_core.transfer import MemorySlice
from driver_core.transport import Request

ACCOUNT = "devstoreaccount1"
# Azurite's published development key: not a secret, but treated as one here.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DATE = "Tue, 02 Jan 2024 03:04:05 GMT"
EMPTY_STANDARD = "\n" * 11  # the eleven standard header lines after the verb, all empty
EP = "http://127.0.0.1:10000/devstoreaccount1"


def fixed_clock() -> datetime:
    return datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def signer() -> SharedKeySigner:
    return SharedKeySigner(ACCOUNT, KEY, clock=fixed_clock)


def expected_authorization(string_to_sign: str, account: str = ACCOUNT) -> str:
    digest = hmac.new(base64.b64decode(KEY), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {account}:{base64.b64encode(digest).decode()}"


def test_put_blob_with_md5_metadata_and_encoded_name() -> None:
    req = Request(
        "PUT",
        f"{EP}/cont/dir/%C3%BC%20x%2By.txt",  # "dir/ü x+y.txt" as the driver encodes it
        headers={
            "x-ms-blob-type": "BlockBlob",
            "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
            "x-ms-blob-content-type": "text/plain",
            "x-ms-meta-i0": "b",
            "x-ms-meta-i_": "a",
            "X-Ms-Meta-Owner": " me ",
        },
        body=b"hello world",
    )
    signer()(req)
    expected = (
        "PUT\n"
        "\n"  # Content-Encoding
        "\n"  # Content-Language
        "11\n"  # Content-Length
        "XrY7u+Ae7tCTyyK7j1rNww==\n"  # Content-MD5
        "\n"  # Content-Type
        "\n"  # Date (x-ms-date is used instead)
        "\n\n\n\n"  # If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since
        "\n"  # Range
        "x-ms-blob-content-type:text/plain\n"
        "x-ms-blob-type:BlockBlob\n"
        f"x-ms-date:{DATE}\n"
        "x-ms-meta-i_:a\n"  # the service puts "_" before digits (not code-point order)
        "x-ms-meta-i0:b\n"
        "x-ms-meta-owner:me\n"
        "x-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/cont/dir/%C3%BC%20x%2By.txt"
    )
    assert signer().string_to_sign(req) == expected
    assert req.headers["Authorization"] == expected_authorization(expected)
    assert req.headers["x-ms-date"] == DATE
    assert req.headers["Content-Length"] == "11"


def test_list_blobs_query_is_decoded_sorted_and_multi_values_joined() -> None:
    req = Request(
        "GET",
        f"{EP}/cont",
        query=[
            ("restype", "container"),
            ("comp", "list"),
            ("prefix", "a b/ü"),
            ("include", "snapshots"),
            ("include", "metadata"),
            ("maxresults", "5"),
        ],
    )
    signer()(req)
    expected = (
        "GET\n" + EMPTY_STANDARD + f"x-ms-date:{DATE}\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/cont\n"
        "comp:list\n"
        "include:metadata,snapshots\n"
        "maxresults:5\n"
        "prefix:a b/ü\n"
        "restype:container"
    )
    assert req.headers["Authorization"] == expected_authorization(expected)
    assert "Content-Length" not in req.headers


def test_account_host_style_url_and_service_root() -> None:
    req = Request("GET", "https://myaccount.blob.core.windows.net/", query=[("comp", "list")])
    s = SharedKeySigner("myaccount", KEY, clock=fixed_clock)
    s(req)
    expected = "GET\n" + EMPTY_STANDARD + f"x-ms-date:{DATE}\nx-ms-version:2021-08-06\n/myaccount/\ncomp:list"
    assert req.headers["Authorization"] == expected_authorization(expected, "myaccount")


def test_empty_file_like_body_is_sent_as_empty_bytes_and_signed_as_empty_length() -> None:
    body = MemorySlice(memoryview(b""), 0, 0)
    req = Request("PUT", f"{EP}/cont/empty", headers={"x-ms-blob-type": "BlockBlob"}, body=body)
    signer()(req)
    assert req.body == b""  # requests would send an empty stream chunked
    expected = (
        "PUT\n" + EMPTY_STANDARD + f"x-ms-blob-type:BlockBlob\nx-ms-date:{DATE}\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/cont/empty"
    )
    assert req.headers["Authorization"] == expected_authorization(expected)


def test_file_like_body_length_is_signed_and_sent() -> None:
    data = memoryview(b"0123456789")
    req = Request("PUT", f"{EP}/cont/b", query=[("comp", "block"), ("blockid", "QUJD")], body=MemorySlice(data, 2, 5))
    signer()(req)
    assert req.headers["Content-Length"] == "5"
    expected = (
        "PUT\n\n\n5\n\n\n\n\n\n\n\n\n" + f"x-ms-date:{DATE}\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/cont/b\nblockid:QUJD\ncomp:block"
    )
    assert req.headers["Authorization"] == expected_authorization(expected)


def test_retry_replaces_old_signature_headers() -> None:
    req = Request("GET", f"{EP}/cont", headers={"authorization": "old", "X-MS-DATE": "old"})
    signer()(req)
    assert [k for k in req.headers if k.lower() in ("authorization", "x-ms-date")] == ["x-ms-date", "Authorization"]


def test_sas_token_adds_query_and_does_not_sign() -> None:
    s = SharedKeySigner(ACCOUNT, sas_token="?sv=2021-08-06&ss=b&sig=abc%2Bdef%3D", clock=fixed_clock)
    req = Request("GET", f"{EP}/cont", query=[("restype", "container")])
    s(req)
    assert "Authorization" not in req.headers and "x-ms-date" not in req.headers
    assert req.query == [("restype", "container"), ("sv", "2021-08-06"), ("ss", "b"), ("sig", "abc+def=")]
    assert "abc" not in repr(s) and "abc" not in str(s)


def test_key_never_shown() -> None:
    s = signer()
    raw = base64.b64decode(KEY)
    for text in (repr(s), str(s)):
        assert KEY not in text and KEY[:12] not in text and repr(raw)[2:14] not in text
    with pytest.raises(ValidationError) as info:
        SharedKeySigner(ACCOUNT, "not base64 " + KEY)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_driver_and_its_errors_never_show_the_key() -> None:
    driver = get_driver("storage", "azure", key=ACCOUNT, secret=KEY, endpoint=EP)
    assert KEY not in repr(driver) and KEY not in repr(driver.options)
    resp = requests.Response()
    resp.status_code = 403
    resp.reason = "Server failed to authenticate the request."
    resp.headers["x-ms-error-code"] = "AuthenticationFailed"
    resp.headers["x-ms-request-id"] = "req-1"
    resp._content = (
        b'<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
        b"<Message>Server failed to authenticate the request.\nRequestId:req-1</Message></Error>"
    )
    err = driver.transport.error_from_response(resp)
    assert type(err).__name__ == "AuthError" and err.code == "AuthenticationFailed" and err.request_id == "req-1"
    assert KEY not in str(err) and KEY not in repr(err)
    driver.close()


def test_missing_credentials_name_the_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
        "AZURE_STORAGE_CONNECTION_STRING",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DRIVER_CORE_PROFILES", "/nonexistent/profiles.toml")
    with pytest.raises(ValidationError) as info:
        get_driver("storage", "azure", key=ACCOUNT, endpoint=EP)
    assert "AZURE_STORAGE_ACCOUNT" in str(info.value) and "AZURE_STORAGE_KEY" in str(info.value)
