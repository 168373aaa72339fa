"""What every driver has, whatever its kind: options, capabilities, a transport, closing."""

from __future__ import annotations

from typing import Any, ClassVar

from .errors import NotSupported, ValidationError
from .profiles import ConnectionOptions
from .transport import RetryPolicy, Transport


class Driver:
    """Base of the storage, DNS, compute and load-balancer drivers."""

    provider: ClassVar[str] = ""
    #: What this driver supports, so front ends can say so before calling.
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options

    def _int_option(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        """A whole-number setting from ``options``, checked against its bounds."""
        value = self.options.options.get(name, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(f"option {name} must be a whole number, not {value!r}") from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise ValidationError(
                f"option {name} must be between {low} and {high} for {self.provider}, not {number}",
                provider=self.provider,
            )
        return number

    def _make_transport(self, *, pool_size: int = 16, **hooks: Any) -> Transport:
        """The transport for an HTTP provider, configured from the connection options
        (``timeout``, ``validate_certs``, and ``options.retries``) the same way for all."""
        retries = self._int_option("retries", 4, 0, 20)
        timeout = self.options.timeout
        return Transport(
            self.provider,
            timeout=(min(10.0, float(timeout)), float(timeout)) if timeout else (10.0, 60.0),
            verify=self.options.validate_certs,
            retry=RetryPolicy(attempts=retries + 1),
            pool_size=pool_size,
            **hooks,
        )

    def not_supported(self, method: str, hint: str = "") -> NotSupported:
        return NotSupported(self.provider, method, hint)

    def close(self) -> None:
        """Release connections (drivers are also usable as context managers)."""
        transport = getattr(self, "transport", None)
        if transport is not None:
            transport.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
