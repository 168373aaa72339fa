"""Containers and objects as desired-state resources.

An object is compared by checksum: content that is already there (same MD5, or the
same multipart ETag recomputed from the local data) is never uploaded again.
Content type and metadata are compared only when the user gives them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..errors import NotFound, ValidationError
from ..models import Container, Object
from ..transfer import MultipartEtag
from .engine import Resource

_BLOCK = 1024 * 1024


class ContainerResource(Resource):
    """A container: ``name``; with state absent, ``force`` also deletes the objects in it."""

    kind: ClassVar[str] = "container"

    @property
    def name(self) -> str:
        return str(self.params["name"])

    def read(self) -> Container | None:
        try:
            container: Container = self.driver.get_container(self.name)
        except NotFound:
            return None
        return container

    def view(self, model: Container) -> dict[str, Any]:
        return {"name": model.name}

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        return {"name": self.name}

    def create(self, wanted: dict[str, Any]) -> Container:
        container: Container = self.driver.create_container(self.name)
        return container

    def delete(self, model: Container) -> None:
        self.driver.delete_container(model, force=bool(self.params.get("force")))


class ObjectResource(Resource):
    """An object: ``container``, ``name``, and ``src`` (a path) or ``content`` (text or bytes),
    with optional ``content_type`` and ``metadata``."""

    kind: ClassVar[str] = "object"

    def __init__(self, driver: Any, *, state: str = "present", **params: Any) -> None:
        super().__init__(driver, state=state, **params)
        if state == "present":
            if (params.get("src") is None) == (params.get("content") is None):
                raise ValidationError(f"object {self.name}: give exactly one of src (a path) or content")
            src = params.get("src")
            if src is not None and not Path(src).is_file():
                raise ValidationError(f"object {self.name}: src {src!r} is not a readable file")
        self._digest: tuple[str, int, str | None] | None = None

    @property
    def name(self) -> str:
        return f"{self.params['container']}/{self.params['name']}"

    def read(self) -> Object | None:
        try:
            obj: Object = self.driver.get_object(self.params["container"], self.params["name"])
        except NotFound:
            try:
                self.driver.get_container(self.params["container"])
            except NotFound:
                if self.state == "absent":
                    return None
                raise ValidationError(
                    f"object {self.name}: container {self.params['container']!r} does not exist; create it first"
                ) from None
            return None
        return obj

    # ----------------------------------------------------------- comparison
    def _chunks(self) -> Iterator[bytes]:
        content = self.params.get("content")
        if content is not None:
            yield content.encode("utf-8") if isinstance(content, str) else bytes(content)
            return
        with open(self.params["src"], "rb") as f:
            while block := f.read(_BLOCK):
                yield block

    def _local(self) -> tuple[str, int, str | None]:
        """MD5, size, and the multipart ETag at the driver's part size (None without one)."""
        if self._digest is None:
            whole = hashlib.md5(usedforsecurity=False)
            part_size = int(getattr(self.driver, "part_size", 0) or 0)
            parts = MultipartEtag(part_size) if part_size else None
            size = 0
            for chunk in self._chunks():
                whole.update(chunk)
                size += len(chunk)
                if parts is not None:
                    parts.update(chunk)
            self._digest = (whole.hexdigest(), size, parts.etag() if parts is not None and size else None)
        return self._digest

    def view(self, model: Object) -> dict[str, Any]:
        out = {"size": model.size, "md5": model.md5, "content_type": model.content_type, "metadata": model.metadata}
        if model.md5 is None and model.etag and "-" in model.etag and self.state == "present":
            md5, size, etag = self._local()
            if etag is not None and model.etag == etag and model.size == size:
                out["md5"] = md5  # the multipart ETag proves the content is the local one
        return out

    def wanted(self, current: dict[str, Any] | None) -> dict[str, Any]:
        md5, size, _ = self._local()
        out: dict[str, Any] = {"md5": md5, "size": size}
        if self.params.get("content_type"):
            out["content_type"] = self.params["content_type"]
        if self.params.get("metadata") is not None:
            out["metadata"] = {str(k).lower(): str(v) for k, v in self.params["metadata"].items()}
        return out

    # -------------------------------------------------------------- changes
    def create(self, wanted: dict[str, Any]) -> Object:
        content = self.params.get("content")
        source: Any = (
            (content.encode("utf-8") if isinstance(content, str) else content)
            if content is not None
            else os.fspath(self.params["src"])
        )
        obj: Object = self.driver.upload_object(
            self.params["container"],
            self.params["name"],
            source,
            content_type=self.params.get("content_type"),
            metadata=self.params.get("metadata"),
        )
        return self.driver.get_object(self.params["container"], self.params["name"]) if obj.md5 is None else obj

    def update(self, model: Object, wanted: dict[str, Any], changed: list[str]) -> Object:
        return self.create(wanted)  # objects are replaced whole, atomically, by an upload

    def delete(self, model: Object) -> None:
        self.driver.delete_object(model.container, model.name)
