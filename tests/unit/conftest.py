"""Fixtures of the provider unit tests: a moto server of their own per test module (they reset it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import backends


@pytest.fixture(scope="module")
def moto() -> Iterator[backends.Server]:
    yield from backends.serve(backends.start_moto)


@pytest.fixture(scope="module")
def moto_auth() -> Iterator[backends.Server]:
    """moto checking SigV4 signatures; ``server.env`` holds a valid key and secret."""
    yield from backends.serve(backends.start_moto, verify_signatures=True)
