"""S3 specifics against moto: buckets in other regions and anonymous access."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

import driver_core
from driver_core import errors
from tests.backends import Server
from tests.conftest import pattern


def test_bucket_in_another_region(moto_server: Server) -> None:
    s3 = driver_core.get_driver("storage", "aws", key="k", secret="s", region="eu-west-1", endpoint=moto_server.url)
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    s3.create_container(name)  # sends a LocationConstraint outside us-east-1
    assert s3.get_container(name).extra["region"] == "eu-west-1"
    with pytest.raises(errors.Conflict):
        s3.create_container(name)
    s3.upload_object(name, "k", b"v")
    assert b"".join(s3.download_object_as_stream(name, "k")) == b"v"
    s3.delete_container(name, force=True)


def test_anonymous_requests_are_refused_by_a_private_bucket(moto_server: Server) -> None:
    owner = driver_core.get_driver("storage", "aws", key="k", secret="s", endpoint=moto_server.url)
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    owner.create_container(name)
    owner.upload_object(name, "private", b"secret data")
    anonymous = driver_core.get_driver("storage", "aws", endpoint=moto_server.url)
    with pytest.raises(errors.AuthError):
        list(anonymous.download_object_as_stream(name, "private"))
    owner.delete_container(name, force=True)


def test_every_upload_request_signs_its_payload_hash(moto_server: Server) -> None:
    part = 5 * 1024 * 1024
    s3 = driver_core.get_driver(
        "storage",
        "aws",
        key="k",
        secret="s",
        endpoint=moto_server.url,
        options={"part_size": part, "multipart_threshold": part},
    )
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    s3.create_container(name)
    sent: list[str] = []

    def record(resp: Any, *args: Any, **kwargs: Any) -> None:
        if resp.request.method == "PUT" and ("/single" in resp.request.url or "partNumber" in resp.request.url):
            sent.append(resp.request.headers["x-amz-content-sha256"])

    s3.transport.session.hooks["response"].append(record)
    data = pattern(2 * part + 3)
    s3.upload_object(name, "single", b"abc")
    s3.upload_object(name, "multi", data)
    expected = [hashlib.sha256(b"abc").hexdigest()] + [
        hashlib.sha256(data[i : i + part]).hexdigest() for i in range(0, len(data), part)
    ]
    assert sorted(sent) == sorted(expected)
    s3.delete_container(name, force=True)
