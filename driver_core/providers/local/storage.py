"""Object storage in a folder on disk (POSIX).

``<root>/<container>/<name>`` holds an object's bytes as a plain file users can see;
``<root>/.driver-core/meta/<container>/<sha256(name)>.json`` its content type, metadata,
MD5, size and mtime; ``<root>/.driver-core/locks/<container>.lock`` is the container's flock.

Paths below a container are opened one folder at a time relative to the parent's
descriptor with ``O_NOFOLLOW``, so neither a name nor a symbolic link can lead outside it.
Uploads go to a temp file beside the destination, renamed into place with the sidecar under
the exclusive lock; readers open the file and read the sidecar under the shared lock. A
sidecar whose size and mtime do not match the file (changed by hand) is ignored.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import itertools
import json
import mimetypes
import os
import re
import secrets
import shutil
import stat
from collections.abc import Generator, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from ...errors import ChecksumMismatch, Conflict, DriverError, NotFound, ValidationError
from ...models import Container, Object
from ...profiles import ConnectionOptions
from ...storage import ContainerRef, Download, ObjectRef, StorageDriver, name_of
from ...transfer import READ_BLOCK, MiB, Source, Verifier, md5_new
from ...transport import paginate
from . import folder_from_endpoint, os_errors

#: Files this driver creates while writing start with this; no object name segment may.
TEMP_PREFIX = ".dc-tmp-"
#: The portable rule (valid on S3 and, without dots, on Azure): a local container can move to a cloud.
CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|[-.](?=[a-z0-9])){2,62}$")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
NAME_MAX = 255


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _blocks(body: Any) -> Iterator[bytes]:
    """The bytes of a part's body, a block at a time."""
    if isinstance(body, bytes):
        yield body
        return
    body.seek(0)
    while block := body.read(READ_BLOCK):
        yield block


def _addressable(entry: str) -> bool:
    """Whether some object name can address a file or folder found on disk."""
    if entry.startswith(TEMP_PREFIX) or "\\" in entry or any(ord(c) < 32 or ord(c) == 127 for c in entry):
        return False
    try:
        entry.encode("utf-8")
    except UnicodeEncodeError:  # not UTF-8 on disk
        return False
    return True


class _Temp:
    """A temp file in ``folder`` (a descriptor or path, kept open), removed unless committed."""

    def __init__(self, folder: int | Path, suffix: str = "") -> None:
        self.dir_fd = os.open(folder, DIR_FLAGS) if isinstance(folder, Path) else os.dup(folder)
        self.name = f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"
        self.done = False
        try:
            self.fd = os.open(self.name, TEMP_FLAGS, 0o666, dir_fd=self.dir_fd)
        except BaseException:
            os.close(self.dir_fd)
            raise

    def commit(self, destination: str) -> None:
        os.replace(self.name, destination, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        self.done = True

    def close(self) -> None:
        """Remove the file unless committed and release both descriptors; safe to call twice."""
        if self.fd < 0:
            return
        if not self.done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name, dir_fd=self.dir_fd)
        os.close(self.fd)
        os.close(self.dir_fd)
        self.fd = -1


class LocalStorageDriver(StorageDriver):
    """Containers are folders under the root, objects are files. Safe to share between threads and processes."""

    provider: ClassVar[str] = "local"
    capabilities: ClassVar[frozenset[str]] = StorageDriver.capabilities - {"multipart"}
    min_part_size: ClassVar[int] = 1
    default_part_size: ClassVar[int] = 8 * MiB
    part_digest: ClassVar[str | None] = None  # the MD5 is taken of what is written, in one pass
    needs_whole_md5: ClassVar[bool] = False
    metadata_ascii_only: ClassVar[bool] = False

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.root = folder_from_endpoint(options.endpoint, what="storage folder", env_var="DRIVER_CORE_LOCAL_STORAGE")
        self.meta_root = self.root / ".driver-core" / "meta"
        self.lock_root = self.root / ".driver-core" / "locks"
        try:
            self.meta_root.mkdir(parents=True, exist_ok=True)
            self.lock_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(ValidationError, f"cannot use {self.root} as the storage folder: {exc.strerror}") from None

    def _fail(self, cls: type[DriverError], message: str) -> DriverError:
        return cls(message, provider=self.provider)

    # ---------------------------------------------------------------- naming
    def validate_container_name(self, name: str) -> str:
        name = super().validate_container_name(name)
        if not CONTAINER_NAME.match(name):
            raise self._fail(
                ValidationError,
                f"container name {name!r} is not valid: use 3 to 63 lowercase letters, digits, '.' and '-', "
                "starting and ending with a letter or digit (the rule cloud providers share)",
            )
        return name

    def validate_object_name(self, name: str) -> str:
        """The base rules, plus what keeps a name inside its container folder on a filesystem."""
        try:
            name.encode("utf-8") if isinstance(name, str) else None
        except UnicodeEncodeError:
            raise self._fail(ValidationError, f"object name {name!r} is not valid Unicode text") from None
        name = super().validate_object_name(name)
        segments = name.split("/")
        problems = {
            "starts or ends with '/'": name.startswith("/") or name.endswith("/"),
            "has an empty path segment ('//')": "//" in name,
            "contains a backslash": "\\" in name,
            f"has a segment starting with {TEMP_PREFIX!r} (reserved)": any(s.startswith(TEMP_PREFIX) for s in segments),
            f"has a segment longer than {NAME_MAX} bytes": any(len(s.encode()) > NAME_MAX for s in segments),
        }
        for problem, found in problems.items():
            if found:
                raise self._fail(ValidationError, f"object name {name!r} {problem}; the local provider refuses it")
        return name

    def _segments(self, container: str, name: str) -> list[str]:
        """The folders and file name of an object, checked once more to stay inside the container folder."""
        folder = os.path.join(self.root, container)
        joined = os.path.normpath(os.path.join(folder, name))
        if os.path.commonpath([folder, joined]) != folder or joined == folder:
            raise self._fail(ValidationError, f"object name {name!r} would leave container {container!r}")
        return name.split("/")

    def _sidecar(self, container: str, name: str) -> Path:
        # Hashed, so the sidecars of "a" and of "a.json/b" can never collide.
        return self.meta_root / container / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    # ------------------------------------------------------- files and locks
    @contextlib.contextmanager
    def _lock(self, container: str, *, exclusive: bool) -> Iterator[None]:
        """The container's lock: exclusive to commit or delete, shared to read a file with its sidecar."""
        fd = os.open(self.lock_root / f"{container}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _container_fd(self, container: str) -> Iterator[int]:
        try:
            fd = os.open(self.root / container, DIR_FLAGS)
        except FileNotFoundError:
            raise self._fail(NotFound, f"container {container!r} does not exist") from None
        except OSError:
            raise self._fail(
                ValidationError, f"container {container!r} is not a folder (links are not followed)"
            ) from None
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _folders(self, cfd: int, segments: list[str], what: str, *, create: bool) -> Iterator[list[int]]:
        """Descriptors of the container and of each folder leading to an object, never following a link."""
        fds = [cfd]
        try:
            for seg in segments[:-1]:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(seg, 0o777, dir_fd=fds[-1])
                try:
                    fds.append(os.open(seg, DIR_FLAGS, dir_fd=fds[-1]))
                except OSError:
                    self._check_entry(fds[-1], seg, what, folder=True, writing=create)
                    raise
            yield fds
        finally:
            for fd in fds[1:]:
                os.close(fd)

    @contextlib.contextmanager
    def _at(self, container: str, name: str, *, exclusive: bool, create: bool) -> Iterator[tuple[list[int], list[str]]]:
        """Under the container's lock: the folders leading to an object (never through a link) and its segments."""
        segments = self._segments(container, name)
        what = self._what(container, name)
        with (
            os_errors(what),
            self._lock(container, exclusive=exclusive),
            self._container_fd(container) as cfd,
            self._folders(cfd, segments, what, create=create) as fds,
        ):
            yield fds, segments

    @staticmethod
    def _what(container: str, name: str) -> str:
        return f"object {name!r} in container {container!r}"

    def _check_entry(self, dfd: int, entry: str, what: str, *, folder: bool, writing: bool) -> None:
        """Raise unless ``entry`` is a folder (``folder``) or a regular file; only a missing file is fine to write."""
        try:
            mode = os.stat(entry, dir_fd=dfd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            if writing and not folder:
                return
            raise self._fail(NotFound, f"{what} does not exist") from None
        if stat.S_ISLNK(mode):
            raise self._fail(ValidationError, f"{what}: {entry!r} is a symbolic link, which is never followed")
        if stat.S_ISDIR(mode) == folder and (folder or stat.S_ISREG(mode)):
            return
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise self._fail(ValidationError, f"{what}: {entry!r} is not a regular file or folder")
        if not writing:
            raise self._fail(NotFound, f"{what} does not exist")
        kind = "an object" if folder else "a folder of objects"
        raise self._fail(
            Conflict,
            f"{what}: {entry!r} is {kind}; an object 'a' and objects 'a/...' cannot both exist on a filesystem",
        )

    @staticmethod
    def _prune(fds: list[int], segments: list[str]) -> None:
        """Remove now-empty folders above an object, deepest first, never the container itself."""
        for depth in range(len(fds) - 1, 0, -1):
            try:
                os.rmdir(segments[depth - 1], dir_fd=fds[depth - 1])
            except OSError:
                return

    # -------------------------------------------------------------- sidecars
    def _read_sidecar(self, container: str, name: str, st: os.stat_result) -> dict[str, Any] | None:
        """The object's recorded details, or None when missing, unreadable or stale (file changed by hand)."""
        try:
            data = json.loads(self._sidecar(container, name).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("name") != name:
            return None
        if data.get("size") != st.st_size or data.get("mtime_ns") != st.st_mtime_ns:
            return None
        return data

    def _object(self, container: str, name: str, st: os.stat_result, sidecar: dict[str, Any] | None) -> Object:
        side = sidecar or {}
        return Object(
            name=name,
            container=container,
            size=st.st_size,
            md5=side.get("md5"),
            etag=side.get("md5"),
            content_type=side.get("content_type") or mimetypes.guess_type(name)[0] or "application/octet-stream",
            metadata=dict(side.get("metadata") or {}),
            modified=_utc(st.st_mtime),
            extra={"path": os.path.join(self.root, container, *name.split("/"))},
        )

    # ------------------------------------------------------------ containers
    def _container(self, name: str, st: os.stat_result) -> Container:
        created = getattr(st, "st_birthtime", None) or st.st_ctime
        return Container(name=name, created=_utc(created), extra={"path": str(self.root / name)})

    def iterate_containers(self) -> Iterator[Container]:
        """Every folder under the root with a valid container name, sorted by name (links are skipped)."""
        with os.scandir(self.root) as entries:
            found = sorted(
                (e.name, e.stat(follow_symlinks=False))
                for e in entries
                if e.is_dir(follow_symlinks=False) and CONTAINER_NAME.match(e.name)
            )
        return iter([self._container(name, st) for name, st in found])

    def get_container(self, name: ContainerRef) -> Container:
        cname = self.validate_container_name(name_of(name))
        with self._container_fd(cname) as fd:
            return self._container(cname, os.fstat(fd))

    def create_container(self, name: str) -> Container:
        cname = self.validate_container_name(name)
        with os_errors(f"container {cname!r}"):
            try:
                os.mkdir(self.root / cname)
            except FileExistsError:
                raise self._fail(Conflict, f"container {cname!r} already exists") from None
            return self._container(cname, os.stat(self.root / cname))

    def _delete_container(self, name: str) -> None:
        with os_errors(f"container {name!r}"), self._lock(name, exclusive=True):
            with self._container_fd(name) as cfd:
                if self._first_page(cfd, name, "", None, 1):
                    raise self._fail(
                        Conflict, f"container {name!r} is not empty; delete its objects first or pass force=True"
                    )
            for _, folders, files, dfd in os.fwalk(self.root / name, topdown=False):  # never follows links
                for entry in [*folders, *(f for f in files if f.startswith(TEMP_PREFIX))]:
                    with contextlib.suppress(OSError):
                        (os.rmdir if entry in folders else os.unlink)(entry, dir_fd=dfd)
            try:
                os.rmdir(self.root / name)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise self._fail(
                    Conflict,
                    f"container {name!r} still holds files that are not objects (links, special files or names "
                    "no object name can address); remove them by hand",
                ) from None
            shutil.rmtree(self.meta_root / name, ignore_errors=True)

    # --------------------------------------------------------------- objects
    def _iterate_objects(self, container: str, prefix: str | None, page_size: int) -> Iterator[Object]:
        with self._container_fd(container):
            pass  # a missing container fails here, not on the first next()

        def fetch(marker: str | None) -> tuple[list[Object], str | None]:
            with self._lock(container, exclusive=False), self._container_fd(container) as cfd:
                page = self._first_page(cfd, container, prefix or "", marker, page_size)
            return page, (page[-1].name if len(page) == page_size else None)

        return paginate(fetch)

    def _first_page(self, cfd: int, container: str, prefix: str, marker: str | None, size: int) -> list[Object]:
        walker = self._walk(cfd, container, "", prefix, marker)
        try:
            return list(itertools.islice(walker, size))
        finally:
            walker.close()  # closes the folder descriptors of an unfinished walk

    def _walk(
        self, dfd: int, container: str, base: str, prefix: str, marker: str | None
    ) -> Generator[Object, None, None]:
        """Objects below a folder in S3 order, after ``marker``, under ``prefix``.

        Sorting each folder's entries by name, with '/' appended to sub-folders, gives the
        global order; Python compares code points, which is the order of UTF-8 bytes.
        """
        for key, is_dir in self._entries(dfd):
            full = base + key
            if prefix and full > prefix and not full.startswith(prefix) and not prefix.startswith(full):
                return  # sorted: nothing later can match the prefix
            if not (full.startswith(prefix) or (is_dir and prefix.startswith(full))):
                continue
            if marker is not None and full <= marker and not (is_dir and marker.startswith(full)):
                continue
            with contextlib.suppress(OSError):
                if is_dir:
                    sub = os.open(key[:-1], DIR_FLAGS, dir_fd=dfd)
                    try:
                        yield from self._walk(sub, container, full, prefix, marker)
                    finally:
                        os.close(sub)
                    continue
                st = os.stat(key, dir_fd=dfd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    yield self._object(container, full, st, self._read_sidecar(container, full, st))

    @staticmethod
    def _entries(dfd: int) -> list[tuple[str, bool]]:
        """A folder's addressable entries as (sort key, is folder); links and special files are skipped."""
        found = []
        with os.scandir(dfd) as entries:
            for entry in entries:
                if not _addressable(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    found.append((entry.name + "/", True))
                elif entry.is_file(follow_symlinks=False):
                    found.append((entry.name, False))
        return sorted(found)

    def _open_object(self, container: str, name: str) -> tuple[io.FileIO, os.stat_result, dict[str, Any] | None]:
        """Open an object's file and read its sidecar under the shared lock, so both belong to one upload."""
        what = self._what(container, name)
        with self._at(container, name, exclusive=False, create=False) as (fds, segments):
            self._check_entry(fds[-1], segments[-1], what, folder=False, writing=False)
            handle = io.FileIO(os.open(segments[-1], READ_FLAGS, dir_fd=fds[-1]), "rb")
            try:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise self._fail(ValidationError, f"{what} is not a regular file")
                return handle, st, self._read_sidecar(container, name, st)
            except BaseException:
                handle.close()
                raise

    def get_object(self, container: ContainerRef, name: ObjectRef) -> Object:
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        handle, st, sidecar = self._open_object(cname, oname)
        handle.close()
        return self._object(cname, oname, st, sidecar)

    def _download(self, container: str, name: str, start: int | None, end: int | None, chunk_size: int) -> Download:
        handle, st, sidecar = self._open_object(container, name)
        first = start or 0
        # Like a Python slice: a range past the end selects nothing, one running over it is cut short.
        first = min(first, st.st_size)
        last = max(first, st.st_size if end is None else min(end, st.st_size))
        md5 = sidecar.get("md5") if sidecar and first == 0 and last == st.st_size else None
        verifier = Verifier(f"{container}/{name}", size=last - first, md5_hex=md5, provider=self.provider)
        return Download(self._chunks(handle, first, last, chunk_size), verifier, handle.close)

    @staticmethod
    def _chunks(handle: io.FileIO, first: int, last: int, chunk_size: int) -> Iterator[bytes]:
        try:
            pos = first
            while pos < last:
                data = os.pread(handle.fileno(), min(chunk_size, last - pos), pos)
                if not data:
                    return  # shorter than announced: the verifier reports it
                pos += len(data)
                yield data
        finally:
            handle.close()

    def delete_object(self, container: ContainerRef, name: ObjectRef) -> None:
        cname = self.validate_container_name(name_of(container))
        oname = self.validate_object_name(name_of(name))
        with self._at(cname, oname, exclusive=True, create=False) as (fds, segments):
            self._check_entry(fds[-1], segments[-1], self._what(cname, oname), folder=False, writing=False)
            os.unlink(segments[-1], dir_fd=fds[-1])
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._sidecar(cname, oname))
            self._prune(fds, segments)

    # ---------------------------------------------------------------- upload
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
        """Stream into a temp file beside the destination, then rename it and its sidecar into place."""
        what = self._what(container, name)
        with self._at(container, name, exclusive=True, create=True) as (fds, segments):
            self._check_entry(fds[-1], segments[-1], what, folder=False, writing=True)
            data = _Temp(fds[-1])
        try:
            md5, size = self._write_source(data.fd, src, part_size, what)
            with os_errors(what):
                record = {"name": name, "content_type": content_type, "metadata": metadata, "md5": md5, "size": size}
                return self._commit(container, name, data, record, what)
        except BaseException:
            data.close()
            with contextlib.suppress(DriverError), self._at(container, name, exclusive=True, create=False) as (fds, _):
                self._prune(fds, segments)  # the folders this upload made, if now empty
            raise
        finally:
            data.close()

    def _commit(self, container: str, name: str, data: _Temp, record: dict[str, Any], what: str) -> Object:
        """Make the written file and its sidecar the object, atomically for readers."""
        os.fsync(data.fd)
        st = os.fstat(data.fd)
        record["mtime_ns"] = st.st_mtime_ns
        sidecar, leaf = self._sidecar(container, name), name.rsplit("/", 1)[-1]
        sidecar.parent.mkdir(exist_ok=True)
        side = _Temp(sidecar.parent, ".json")
        try:
            _write_all(side.fd, json.dumps(record).encode("ascii"))
            os.fsync(side.fd)
            with self._lock(container, exclusive=True):
                self._check_entry(data.dir_fd, leaf, what, folder=False, writing=True)
                data.commit(leaf)
                try:
                    side.commit(sidecar.name)
                except OSError:
                    with contextlib.suppress(OSError):  # never leave the old object's sidecar on the new file
                        os.unlink(sidecar)
                    raise
            os.fsync(data.dir_fd)
        finally:
            side.close()
        return self._object(container, name, st, record)

    def _write_source(self, fd: int, src: Source, part_size: int, what: str) -> tuple[str, int]:
        """Write every part to ``fd``, hashing what is written; returns (MD5 hex, size).

        Errors raised by the caller's source pass through unchanged; only the
        writes are turned into the driver's errors."""
        digest = md5_new()
        size = 0
        for part in src.parts(part_size):
            for block in _blocks(part.body):
                digest.update(block)
                with os_errors(what):
                    _write_all(fd, block)
                size += len(block)
        if src.whole_md5 is not None and src.whole_md5 != digest.digest():
            raise ChecksumMismatch("the upload source changed while it was being read", provider="local")
        if src.size is not None and src.size != size:
            raise ChecksumMismatch(f"the upload source announced {src.size} bytes but gave {size}", provider="local")
        return digest.hexdigest(), size
