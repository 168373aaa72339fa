"""libvirt: compute without a cloud. Domains are nodes, storage-pool volumes are images and volumes.

Needs the optional ``libvirt-python`` package (``pip install libvirt-python``, which builds against
the system's libvirt headers: ``libvirt-dev`` and ``pkg-config`` on Debian). The endpoint is a libvirt
URI: ``qemu:///system``, ``qemu+ssh://user@host/system``, or ``test:///default`` (libvirt's
in-process test hypervisor, used by the test suite).

This module holds what any libvirt driver needs: the lazy import, one shared connection, and the
map from libvirt's errors to the driver-core error tree. :mod:`.compute` is the compute driver.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from typing import Any

from ... import errors
from ...errors import DriverError, NotSupported, ProviderError, ValidationError

PROVIDER = "libvirt"
#: libvirt error codes (without ``VIR_ERR_``) -> the error raised for them; others are ProviderError.
ERROR_CODES: dict[str, type[DriverError]] = {
    code: cls
    for cls, codes in [
        (errors.NotFound, "NO_DOMAIN NO_STORAGE_POOL NO_STORAGE_VOL NO_NETWORK"),
        (errors.Conflict, "OPERATION_INVALID DOM_EXIST STORAGE_VOL_EXIST"),
        (errors.AuthError, "AUTH_FAILED AUTH_CANCELLED AUTH_UNAVAILABLE ACCESS_DENIED OPERATION_DENIED"),
        (errors.InvalidRequest, "INVALID_ARG XML_ERROR XML_DETAIL CONFIG_UNSUPPORTED"),
        (errors.Unreachable, "NO_CONNECT RPC INVALID_CONN"),
        (errors.Timeout, "OPERATION_TIMEOUT"),
    ]
    for code in codes.split()
}


def import_libvirt() -> Any:
    """The libvirt module, imported on first use (it is an optional extra), with a silent error
    handler: libvirt prints every error to stderr otherwise. The handler is process-wide."""
    try:
        module = importlib.import_module("libvirt")
    except ImportError:
        raise ValidationError(
            "the libvirt provider needs the libvirt-python package: pip install libvirt-python "
            "(it builds against libvirt's headers: apt-get install libvirt-dev pkg-config)",
            provider=PROVIDER,
        ) from None
    module.registerErrorHandler(lambda _ctx, _err: None, None)
    return module


class Connection:
    """One libvirt connection, opened on first use under :attr:`lock` and shared by every thread
    (libvirt connections are thread-safe). :meth:`errors` turns libvirt errors into driver-core ones."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.lv: Any = import_libvirt()
        levels = {"VIR_ERR_NONE", "VIR_ERR_WARNING", "VIR_ERR_ERROR"}  # error levels share the codes' numbers
        self._codes = {v: k for k, v in vars(self.lv).items() if k.startswith("VIR_ERR_") and k not in levels}
        self._conn: Any = None
        self.lock = threading.RLock()

    def get(self) -> Any:
        """The open ``virConnect``."""
        with self.lock:
            if self._conn is None:
                try:
                    self._conn = self.lv.open(self.uri)
                except self.lv.libvirtError as exc:
                    raise self.error(exc, f"cannot connect to {self.uri}", opening=True) from None
            return self._conn

    def close(self) -> None:
        """Close the connection; the next call opens a new one."""
        with self.lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(self.lv.libvirtError):
                conn.close()

    def error(self, exc: Any, what: str, *, opening: bool = False) -> DriverError:
        """The driver-core error for a ``libvirtError`` raised while doing ``what``."""
        name = self._codes.get(exc.get_error_code(), str(exc.get_error_code()))
        detail = exc.get_error_message() or str(exc)
        if name == "VIR_ERR_NO_SUPPORT":
            return NotSupported(PROVIDER, what, f"(libvirt: {detail})")
        cls = ERROR_CODES.get(name.removeprefix("VIR_ERR_"), ProviderError)
        rpc = exc.get_error_domain() in (getattr(self.lv, "VIR_FROM_RPC", 7), getattr(self.lv, "VIR_FROM_REMOTE", 13))
        if cls is ProviderError and (opening or (name == "VIR_ERR_SYSTEM_ERROR" and rpc)):
            cls = errors.Unreachable  # a failed connect, or a broken one
        return cls(f"{what}: {detail}", provider=PROVIDER, code=name)

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn a libvirt error raised while doing ``what`` into the driver-core error tree."""
        try:
            yield
        except self.lv.libvirtError as exc:
            raise self.error(exc, what) from None


__all__ = ["ERROR_CODES", "PROVIDER", "Connection", "import_libvirt"]
