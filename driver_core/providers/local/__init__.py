"""The local provider: object storage in a folder, DNS as zone files in a folder (POSIX)."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from ...errors import DriverError, NotFound, ProviderError, ValidationError


def folder_from_endpoint(endpoint: str | None, *, what: str, env_var: str) -> Path:
    """The folder a local driver works in: ``endpoint`` is a path or a ``file://`` URL.

    ``what`` names the folder in messages ("storage folder", "zone folder"). The
    folder itself may not exist yet; a path that exists and is not a folder is an error.
    """
    if not endpoint:
        raise ValidationError(
            f"the local provider needs a {what}: pass endpoint='/some/folder' (or a file:// URL) or set {env_var}",
            provider="local",
        )
    path = os.path.expanduser(endpoint)
    if endpoint.startswith("file:"):
        url = urlparse(endpoint)
        if url.netloc not in ("", "localhost"):
            raise ValidationError(f"a file:// URL must name a local folder, not host {url.netloc!r}", provider="local")
        path = url2pathname(url.path)
    folder = Path(os.path.realpath(path))
    if folder.exists() and not folder.is_dir():
        raise ValidationError(f"the {what} {folder} is not a folder", provider="local")
    return folder


@contextlib.contextmanager
def os_errors(what: str) -> Iterator[None]:
    """Turn a filesystem failure while working on ``what`` into the driver's errors."""
    try:
        yield
    except DriverError:
        raise
    except FileNotFoundError:
        raise NotFound(f"{what} does not exist", provider="local") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValidationError(
                f"{what}: a symbolic link is in the way; links are never followed", provider="local"
            ) from None
        raise ProviderError(f"{what}: {exc.strerror or exc}", provider="local") from exc
