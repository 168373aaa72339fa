"""S3 addressing: path-style, virtual-hosted and custom endpoints, from the driver's URLs."""

from __future__ import annotations

import pytest

import driver_core
from driver_core import errors


def s3(**kw: object) -> object:
    return driver_core.get_driver("storage", "aws", key="k", secret="s", **kw)


def test_default_endpoint_is_virtual_hosted_per_region() -> None:
    d = s3(region="eu-central-1")
    assert d._url("my-bucket", "a b/ü+.txt") == "https://my-bucket.s3.eu-central-1.amazonaws.com/a%20b/%C3%BC%2B.txt"
    assert d._url("my-bucket") == "https://my-bucket.s3.eu-central-1.amazonaws.com/"
    # Dotted names break TLS on virtual hosts: auto falls back to path style.
    assert d._url("my.bucket", "k") == "https://s3.eu-central-1.amazonaws.com/my.bucket/k"


def test_custom_endpoint_is_path_style_and_keeps_its_path() -> None:
    d = s3(endpoint="http://127.0.0.1:9000/s3/")
    assert d._url("bkt", "k") == "http://127.0.0.1:9000/s3/bkt/k"
    assert d._url("bkt") == "http://127.0.0.1:9000/s3/bkt"
    assert d._url(None) == "http://127.0.0.1:9000/s3/"


def test_addressing_option() -> None:
    assert s3(options={"addressing": "path"})._url("bkt", "k") == "https://s3.us-east-1.amazonaws.com/bkt/k"
    v = s3(endpoint="https://storage.example.net", options={"addressing": "virtual"})
    assert v._url("bkt", "k") == "https://bkt.storage.example.net/k"
    with pytest.raises(errors.ValidationError, match="addressing"):
        s3(options={"addressing": "sideways"})


def test_credentials_must_come_in_pairs() -> None:
    with pytest.raises(errors.ValidationError, match="access key and its secret"):
        driver_core.get_driver("storage", "aws", key="only-key", secret=None)


@pytest.mark.parametrize("bad", ["ab", "a" * 64, "Upper", "under_score", "192.168.1.1", "a..b", "-a-", "a-"])
def test_bucket_names(bad: str) -> None:
    with pytest.raises(errors.ValidationError, match="not a valid S3 bucket name"):
        s3().validate_container_name(bad)
    assert s3().validate_container_name("ok-name.with.dots") == "ok-name.with.dots"
