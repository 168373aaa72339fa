"""The object-storage contract shared by every storage provider.

:class:`StorageDriver` holds everything that is the same for every provider:
argument checking, turning upload sources into parts, choosing one request or
a multipart upload, running parts in parallel, verifying checksums, atomic
downloads and streaming with look-ahead verification. A provider implements
the small set of ``_``-prefixed primitives at the bottom of the class.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .base import Driver
from .errors import Conflict, DriverError, NotFound, PartialFailure, ValidationError
from .models import Container, Object
from .profiles import ConnectionOptions
from .transfer import AtomicFile, MiB, Part, Source, UploadSource, Verifier, open_source

if TYPE_CHECKING:
    from concurrent.futures import Future

ContainerRef = Container | str
ObjectRef = Object | str

DEFAULT_CHUNK_SIZE = 1 * MiB
#: Downloads at least this large hash and write on a second thread (see Download.drain_into).
PIPELINE_MIN_SIZE = 8 * MiB


def name_of(ref: Any) -> str:
    """The name of a model, or the string itself: every argument that names a resource takes either."""
    return ref if isinstance(ref, str) else ref.name


class Download:
    """What a provider hands back for a GET: the chunks and what to verify them against."""

    def __init__(self, chunks: Iterator[bytes], verifier: Verifier, close: Any = None) -> None:
        self.chunks = chunks
        self.verifier = verifier
        self._close = close

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def drain_into(self, sink: Callable[[bytes], Any]) -> None:
        """Pass every chunk to ``sink`` and verify the whole.

        For large objects the hashing and writing run on a second thread while
        this one reads the network, so checksum work overlaps the transfer
        (hashlib and file writes release the GIL); at most a few chunks wait
        in between.
        """
        size = self.verifier.expected_size
        if size is None or size < PIPELINE_MIN_SIZE:
            for chunk in self.chunks:
                self.verifier.update(chunk)
                sink(chunk)
            self.verifier.verify()
            return
        import queue
        import threading

        pending: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        failures: list[BaseException] = []

        def consume() -> None:
            try:
                while (chunk := pending.get()) is not None:
                    self.verifier.update(chunk)
                    sink(chunk)
            except BaseException as exc:  # handed to the reading thread below
                failures.append(exc)
                while pending.get() is not None:
                    pass

        worker = threading.Thread(target=consume, name="driver-core-verify", daemon=True)
        worker.start()
        try:
            for chunk in self.chunks:
                if failures:
                    break
                pending.put(chunk)
        finally:
            pending.put(None)
            worker.join()
        if failures:
            raise failures[0]
        self.verifier.verify()


class ObjectStream(Iterator[bytes]):
    """The chunks of a download, verified as they arrive.

    The last chunk is only handed out once size and checksum have been
    checked, so a consumer never sees a corrupt download end cleanly. Close it
    (or use it in a ``with`` block) when stopping early, to free the connection.
    """

    def __init__(self, download: Download) -> None:
        self._download = download
        self._chunks = self._verified(download)

    @staticmethod
    def _verified(download: Download) -> Iterator[bytes]:
        try:
            held: bytes | None = None
            for chunk in download.chunks:
                download.verifier.update(chunk)
                if held is not None:
                    yield held
                held = chunk
            download.verifier.verify()
            if held is not None:
                yield held
        finally:
            download.close()

    def __iter__(self) -> ObjectStream:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        self._download.close()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class StorageDriver(Driver):
    """Base of every storage driver. Safe to share between threads."""

    provider: ClassVar[str] = ""
    #: What this provider supports, so front ends can say so before calling.
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"containers", "objects", "prefix_listing", "metadata", "content_type", "ranges", "multipart", "stream"}
    )
    min_part_size: ClassVar[int] = 1
    max_part_size: ClassVar[int] = 5 * 1024 * MiB
    max_parts: ClassVar[int] = 10_000
    default_part_size: ClassVar[int] = 8 * MiB
    #: Larger uploads go in parts. 64 MiB, as the Azure SDK's single-put limit: one verified
    #: request is faster and simpler below it, parallel parts pay off above it.
    default_multipart_threshold: ClassVar[int] = 64 * MiB
    default_page_size: ClassVar[int] = 1000
    max_page_size: ClassVar[int] = 1000
    #: Whether the provider deletes a container that still holds objects (Azure does).
    deletes_non_empty_containers: ClassVar[bool] = False
    #: The hash each upload part carries for the provider to verify (None: the driver hashes itself).
    part_digest: ClassVar[str | None] = "md5"
    #: Whether uploads need the MD5 of the whole object computed as parts are read.
    needs_whole_md5: ClassVar[bool] = True
    metadata_key_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
    metadata_ascii_only: ClassVar[bool] = True

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.part_size = self._int_option("part_size", self.default_part_size)
        self.multipart_threshold = self._int_option("multipart_threshold", self.default_multipart_threshold, 0)
        self.concurrency = self._int_option("concurrency", 4, 1, 64)
        self.page_size = self._int_option("page_size", self.default_page_size, 1, self.max_page_size)
        self._check_part_size(self.part_size)

    # ----------------------------------------------------------------- helpers
    def _check_part_size(self, part_size: int) -> None:
        if not self.min_part_size <= part_size <= self.max_part_size:
            raise ValidationError(
                f"part_size {part_size} is outside what {self.provider} accepts "
                f"({self.min_part_size} to {self.max_part_size} bytes)"
            )

    def validate_container_name(self, name: str) -> str:
        """Raise :class:`ValidationError` unless ``name`` is a valid container name here."""
        if not isinstance(name, str) or not name:
            raise ValidationError("a container name must be a non-empty string", provider=self.provider)
        return name

    def validate_object_name(self, name: str) -> str:
        """Object names: non-empty text, no NUL or control characters, no '.' or '..' segments.

        Dot segments are refused everywhere because HTTP clients collapse them
        (``a/../b`` would silently address ``b``) and they would escape a local folder.
        """
        if not isinstance(name, str) or not name:
            raise ValidationError("an object name must be a non-empty string", provider=self.provider)
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise ValidationError(f"object name {name!r} contains NUL or a control character", provider=self.provider)
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(
                f"object name {name!r} is not valid Unicode text (it holds a lone surrogate)", provider=self.provider
            ) from None
        if len(encoded) > 1024:
            raise ValidationError("an object name may be at most 1024 bytes of UTF-8", provider=self.provider)
        if any(seg in (".", "..") for seg in name.split("/")):
            raise ValidationError(
                f"object name {name!r} has a '.' or '..' path segment; these are not allowed",
                provider=self.provider,
            )
        return name

    def _check_metadata(self, metadata: dict[str, str] | None) -> dict[str, str]:
        if not metadata:
            return {}
        if not isinstance(metadata, dict):
            raise ValidationError("metadata must be a dict of text keys and values", provider=self.provider)
        clean: dict[str, str] = {}
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValidationError(f"metadata keys and values must be text; {key!r} is not", provider=self.provider)
            lower = key.lower()
            if not self.metadata_key_pattern.match(lower):
                raise ValidationError(
                    f"metadata key {key!r} is not valid for {self.provider} "
                    f"(allowed: {self.metadata_key_pattern.pattern})",
                    provider=self.provider,
                )
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise ValidationError(
                    f"metadata value for {key!r} contains a line break or control character", provider=self.provider
                )
            if self.metadata_ascii_only and not value.isascii():
                raise ValidationError(
                    f"metadata value for {key!r} must be ASCII text on {self.provider}", provider=self.provider
                )
            clean[lower] = value
        return clean

    # -------------------------------------------------------------- containers
    def iterate_containers(self) -> Iterator[Container]:
        """Every container, across all pages."""
        raise self.not_supported("iterate_containers")

    def list_containers(self) -> list[Container]:
        return list(self.iterate_containers())

    def get_container(self, name: ContainerRef) -> Container:
        raise self.not_supported("get_container")

    def create_container(self, name: str) -> Container:
        raise self.not_supported("create_container")

    def delete_container(self, container: ContainerRef, *, force: bool = False) -> None:
        """Delete a container. A non-empty one raises :class:`Conflict` unless ``force``,
        which deletes every object in it first."""
        name = self.validate_container_name(name_of(container))
        if force:
            for obj in list(self.iterate_objects(name)):
                try:
                    self.delete_object(name, obj.name)
                except NotFound:
                    pass
        elif self.deletes_non_empty_containers and next(iter(self._iterate_objects(name, None, 1)), None):
            raise Conflict(
                f"container {name!r} is not empty; delete its objects first or pass force=True",
                provider=self.provider,
            )
        self._delete_container(name)

    # ----------------------------------------------------------------- objects
    def iterate_objects(self, container: ContainerRef, prefix: str | None = None) -> Iterator[Object]:
        """Every object in the container (whose name starts with ``prefix``), across all pages."""
        name = self.validate_container_name(name_of(container))
        return self._iterate_objects(name, prefix, self.page_size)

    def list_objects(self, container: ContainerRef, prefix: str | None = None) -> list[Object]:
        return list(self.iterate_objects(container, prefix))

    def get_object(self, container: ContainerRef, name: ObjectRef) -> Object:
        raise self.not_supported("get_object")

    def delete_object(self, container: ContainerRef, name: ObjectRef) -> None:
        raise self.not_supported("delete_object")

    def upload_object(
        self,
        container: ContainerRef,
        name: str,
        source: UploadSource,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
    ) -> Object:
        """Upload from a path, bytes, a binary file object or an iterator of bytes.

        Content up to ``multipart_threshold`` goes in one request with its MD5
        for the provider to verify; larger or unknown-length content goes in
        parts of ``part_size`` bytes, ``concurrency`` at a time, each verified.
        A failed multipart upload is aborted, so nothing half-written remains.
        """
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name)
        meta = self._check_metadata(metadata)
        ctype = content_type or mimetypes.guess_type(oname)[0] or "application/octet-stream"
        psize = part_size or self.part_size
        self._check_part_size(psize)
        workers = concurrency or self.concurrency
        src = open_source(source, part_digest=self.part_digest, whole_md5=self.needs_whole_md5)
        try:
            return self._upload(cname, oname, src, ctype, meta, psize, workers)
        finally:
            src.close()

    def _upload(
        self,
        container: str,
        name: str,
        src: Source,
        content_type: str,
        metadata: dict[str, str],
        part_size: int,
        concurrency: int,
    ) -> Object:
        threshold = max(self.multipart_threshold, 0)
        if src.size is not None and src.size <= threshold:
            part = next(src.parts(max(src.size, 1)))
            return self._put_object(container, name, part, content_type, metadata)
        if src.size is not None and -(-src.size // part_size) > self.max_parts:
            raise ValidationError(
                f"{src.size} bytes in parts of {part_size} would need more than {self.max_parts} parts; "
                "raise part_size",
                provider=self.provider,
            )
        parts = src.parts(part_size)
        first = next(parts)
        second = next(parts, None)
        if second is None:
            # Unknown length that turned out to fit in one part: one request is enough.
            return self._put_object(container, name, first, content_type, metadata)
        return self._multipart(container, name, src, [first, second], parts, content_type, metadata, concurrency)

    def _multipart(
        self,
        container: str,
        name: str,
        src: Source,
        head: list[Part],
        rest: Iterator[Part],
        content_type: str,
        metadata: dict[str, str],
        concurrency: int,
    ) -> Object:
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        handle = self._multipart_start(container, name, content_type, metadata)
        tokens: dict[int, Any] = {}
        total = 0
        try:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="driver-core-part") as pool:
                pending: set[Future[Any]] = set()
                owner: dict[Future[Any], int] = {}

                def submit(part: Part) -> None:
                    fut = pool.submit(self._multipart_part, handle, part)
                    owner[fut] = part.number
                    pending.add(fut)

                for part in head:
                    submit(part)
                    total += part.size
                for part in rest:
                    if part.number > self.max_parts:
                        raise ValidationError(
                            f"the upload needs more than {self.max_parts} parts; raise part_size",
                            provider=self.provider,
                        )
                    # Keep at most `concurrency` parts in flight, which bounds memory.
                    while len(pending) >= concurrency:
                        done, _ = wait(pending, return_when=FIRST_EXCEPTION)
                        for fut in done:
                            pending.discard(fut)
                            tokens[owner.pop(fut)] = fut.result()
                    submit(part)
                    total += part.size
                for fut in list(pending):
                    tokens[owner.pop(fut)] = fut.result()
                    pending.discard(fut)
            ordered = [tokens[n] for n in sorted(tokens)]
            return self._multipart_complete(handle, ordered, src.whole_md5, total)
        except BaseException as exc:
            try:
                self._multipart_abort(handle)
            except DriverError as abort_exc:
                raise PartialFailure(
                    f"upload of {name!r} failed ({exc}) and aborting the multipart upload also failed "
                    f"({abort_exc}); the incomplete upload may still hold storage",
                    created=[handle],
                    errors=[exc, abort_exc],
                    provider=self.provider,
                ) from exc
            raise

    def download_object(
        self,
        container: ContainerRef,
        name: ObjectRef,
        destination: str | os.PathLike[str],
        *,
        overwrite: bool = False,
    ) -> Path:
        """Download to a file, atomically: the file appears only when complete and verified.

        ``destination`` may be a folder, in which case the object's base name is used.
        Returns the path written.
        """
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        dest = Path(destination)
        if dest.is_dir():
            dest = dest / oname.rsplit("/", 1)[-1]
        with AtomicFile(dest, overwrite=overwrite) as out:
            download = self._download(cname, oname, None, None, DEFAULT_CHUNK_SIZE)
            try:
                download.drain_into(out.write)
            finally:
                download.close()
            return out.commit()

    def download_object_as_stream(
        self,
        container: ContainerRef,
        name: ObjectRef,
        *,
        chunk_size: int | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> ObjectStream:
        """The object's bytes in chunks of ``chunk_size`` (the last may be shorter).

        ``start`` and ``end`` select the bytes ``[start, end)``, like a Python
        slice: a range past the end is empty, one running over it is cut short.
        The stream is verified as it goes (see :class:`ObjectStream`).
        """
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        size = chunk_size or DEFAULT_CHUNK_SIZE
        if size < 1:
            raise ValidationError("chunk_size must be at least 1")
        if (start is not None and start < 0) or (end is not None and end < 0):
            raise ValidationError("start and end must not be negative")
        if start is not None and end is not None and end < start:
            raise ValidationError(f"end ({end}) must not be before start ({start})")
        if end is not None and end == (start or 0):
            return ObjectStream(Download(iter(()), Verifier(oname, size=0)))
        return ObjectStream(self._download(cname, oname, start, end, size))

    # ----------------------------------------------- primitives for providers
    def _iterate_objects(self, container: str, prefix: str | None, page_size: int) -> Iterator[Object]:
        raise self.not_supported("iterate_objects")

    def _delete_container(self, name: str) -> None:
        raise self.not_supported("delete_container")

    def _put_object(self, container: str, name: str, part: Part, content_type: str, metadata: dict[str, str]) -> Object:
        raise self.not_supported("upload_object")

    def _multipart_start(self, container: str, name: str, content_type: str, metadata: dict[str, str]) -> Any:
        raise self.not_supported("upload_object", "multipart uploads are not available")

    def _multipart_part(self, handle: Any, part: Part) -> Any:
        raise self.not_supported("upload_object", "multipart uploads are not available")

    def _multipart_complete(self, handle: Any, parts: list[Any], whole_md5: bytes | None, size: int) -> Object:
        raise self.not_supported("upload_object", "multipart uploads are not available")

    def _multipart_abort(self, handle: Any) -> None:
        raise self.not_supported("upload_object", "multipart uploads are not available")

    def _download(self, container: str, name: str, start: int | None, end: int | None, chunk_size: int) -> Download:
        raise self.not_supported("download_object")
