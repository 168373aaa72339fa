"""driver-core: one driver core for many cloud providers.

The public surface is small on purpose::

    import driver_core
    storage = driver_core.get_driver("storage", "aws", region="eu-west-1")
    cloud = driver_core.connect("my-profile")      # drivers of every kind for one profile

Nothing provider-specific is imported until a driver is asked for.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

from . import errors
from .errors import (
    AuthError,
    Conflict,
    DriverError,
    NotFound,
    NotSupported,
    PartialFailure,
    ProviderError,
    RateLimited,
    Timeout,
    ValidationError,
)

if TYPE_CHECKING:
    from .registry import Cloud


def get_driver(kind: str, provider: str, **options: Any) -> Any:
    """Create the driver for ``kind`` (storage, compute, dns, loadbalancer) of ``provider``.

    ``options`` are the connection options shared by every front end: ``key``,
    ``secret``, ``token``, ``region``, ``endpoint``, ``validate_certs``,
    ``timeout``, ``profile`` and ``options`` (a dict of provider settings).
    Missing ones are resolved from provider-native environment variables and
    the profile file (see :mod:`driver_core.profiles`).
    """
    from .registry import get_driver as _get_driver

    return _get_driver(kind, provider, **options)


def connect(profile: str | None = None, **options: Any) -> Cloud:
    """The drivers of every kind for one profile (or for explicit options)."""
    from .registry import Cloud

    return Cloud(profile=profile, **options)


__all__ = [
    "AuthError",
    "Conflict",
    "DriverError",
    "NotFound",
    "NotSupported",
    "PartialFailure",
    "ProviderError",
    "RateLimited",
    "Timeout",
    "ValidationError",
    "__version__",
    "connect",
    "errors",
    "get_driver",
]
