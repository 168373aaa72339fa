"""Moving bytes safely: upload sources cut into parts, checksums, atomic files.

Upload sources (a path, bytes, a file object or an iterator of bytes) become a
:class:`Source` that hands out :class:`Part` objects. Parts of files are read
on demand with ``os.pread`` (so several threads can send parts of one file
without buffering them); parts of streams are buffered one part at a time.
Downloads are written through :class:`AtomicFile`, which only puts the file at
its destination once it is complete and verified.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from .errors import ChecksumMismatch, DestinationExists, ValidationError

KiB = 1024
MiB = 1024 * KiB
READ_BLOCK = 1 * MiB

UploadSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Iterable[bytes]]


def md5_new() -> Any:
    # MD5 is used for integrity (the providers' own checksum), never for security.
    return hashlib.md5(usedforsecurity=False)


def _hasher(algorithm: str | None) -> Any:
    if algorithm is None:
        return None
    return md5_new() if algorithm == "md5" else hashlib.new(algorithm)


class SliceReader(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes starting at ``offset`` of a backing store.

    It is what a part's body is: requests streams it, and the transport seeks
    it back to the start when a request is retried.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.pos = 0

    def _read_at(self, pos: int, n: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self.size

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = min(max(0, base + pos), self.size)
        return self.pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        data = self._read_at(self.pos, n)
        if len(data) != n:
            raise ValidationError("the upload source changed size while it was being sent")
        self.pos += n
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class FileSlice(SliceReader):
    def __init__(self, fd: int, offset: int, size: int) -> None:
        super().__init__(size)
        self.fd = fd
        self.offset = offset

    def _read_at(self, pos: int, n: int) -> bytes:
        chunks = []
        while n > 0:
            data = os.pread(self.fd, n, self.offset + pos)
            if not data:
                break
            chunks.append(data)
            pos += len(data)
            n -= len(data)
        return b"".join(chunks)


class MemorySlice(SliceReader):
    def __init__(self, view: memoryview, offset: int, size: int) -> None:
        super().__init__(size)
        self.view = view
        self.offset = offset

    def _read_at(self, pos: int, n: int) -> bytes:
        start = self.offset + pos
        return bytes(self.view[start : start + n])


@dataclass(slots=True)
class Part:
    """One part of an upload: 1-based ``number``, its body, size and digest.

    ``digest`` uses the algorithm the driver asked for (MD5 for Content-MD5,
    SHA-256 for a signed S3 payload), or is empty when it asked for none.
    """

    number: int
    offset: int
    size: int
    digest: bytes
    body: bytes | SliceReader


class Source:
    """An upload source, normalised. ``size`` is None when it is not known in advance."""

    size: int | None = None

    def __init__(self, part_digest: str | None = "md5", whole_md5: bool = True) -> None:
        self.part_digest = part_digest
        self._whole = md5_new() if whole_md5 else None
        self._fed = False

    def _digest(self, pieces: Iterable[bytes | memoryview]) -> bytes:
        """The part digest of ``pieces``, read one at a time (and fed to the whole-object MD5)."""
        part = _hasher(self.part_digest)
        # For the first part, the whole-object MD5 is the part's MD5: hash it once.
        share = part is not None and self.part_digest == "md5" and self._whole is not None and not self._fed
        for piece in pieces:
            if part is not None:
                part.update(piece)
            if self._whole is not None and not share:
                self._whole.update(piece)
        if share:
            self._whole = part.copy()
        self._fed = True
        return part.digest() if part is not None else b""

    def parts(self, part_size: int) -> Iterator[Part]:
        raise NotImplementedError

    @property
    def whole_md5(self) -> bytes | None:
        """The MD5 of everything handed out so far (complete once ``parts`` is exhausted)."""
        return self._whole.digest() if self._whole is not None else None

    def close(self) -> None:
        pass


class BytesSource(Source):
    size: int

    def __init__(self, data: bytes | bytearray | memoryview, part_digest: str | None = "md5", whole_md5: bool = True):
        super().__init__(part_digest, whole_md5)
        self.data = data
        self.view = memoryview(data).cast("B")
        self.size = len(self.view)

    def parts(self, part_size: int) -> Iterator[Part]:
        if self.size <= part_size:
            body = self.data if isinstance(self.data, bytes) else bytes(self.view)
            yield Part(1, 0, self.size, self._digest([self.view]), body)
            return
        for number, offset in enumerate(range(0, self.size, part_size), start=1):
            size = min(part_size, self.size - offset)
            digest = self._digest([self.view[offset : offset + size]])
            yield Part(number, offset, size, digest, MemorySlice(self.view, offset, size))


class FileSource(Source):
    """A regular file (by path, or an open file object with a descriptor) from its current offset."""

    size: int

    def __init__(
        self, fd: int, start: int, size: int, owned: bool, part_digest: str | None = "md5", whole_md5: bool = True
    ) -> None:
        super().__init__(part_digest, whole_md5)
        self.fd = fd
        self.start = start
        self.size = size
        self.owned = owned

    def parts(self, part_size: int) -> Iterator[Part]:
        number = 0
        offset = 0
        while offset < self.size or number == 0:
            number += 1
            size = min(part_size, self.size - offset)
            digest = self._digest(self._blocks(offset, size)) if self.part_digest or self._whole else b""
            yield Part(number, offset, size, digest, FileSlice(self.fd, self.start + offset, size))
            offset += size

    def _blocks(self, offset: int, size: int) -> Iterator[bytes]:
        pos = 0
        while pos < size:
            block = os.pread(self.fd, min(READ_BLOCK, size - pos), self.start + offset + pos)
            if not block:
                raise ValidationError("the upload source file got shorter while it was being read")
            pos += len(block)
            yield block

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False


class StreamSource(Source):
    """A file object without a usable descriptor, or an iterator of bytes: read one part at a time."""

    def __init__(self, chunks: Iterator[bytes], part_digest: str | None = "md5", whole_md5: bool = True) -> None:
        super().__init__(part_digest, whole_md5)
        self.chunks = chunks
        self.pending = b""

    def parts(self, part_size: int) -> Iterator[Part]:
        number = 0
        offset = 0
        exhausted = False
        while not exhausted:
            buf = bytearray(self.pending)
            self.pending = b""
            while len(buf) < part_size:
                try:
                    chunk = next(self.chunks)
                except StopIteration:
                    exhausted = True
                    break
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise ValidationError(f"an upload iterator must yield bytes, not {type(chunk).__name__}")
                buf += chunk
            if len(buf) > part_size:
                self.pending = bytes(buf[part_size:])
                del buf[part_size:]
                exhausted = False
            if not buf and number > 0:
                return
            number += 1
            data = bytes(buf)
            yield Part(number, offset, len(data), self._digest([data]), data)
            offset += len(data)
            if exhausted and not self.pending:
                return


def _iter_file(f: IO[bytes], block: int = READ_BLOCK) -> Iterator[bytes]:
    while True:
        data = f.read(block)
        if not data:
            return
        yield data


def open_source(source: UploadSource, *, part_digest: str | None = "md5", whole_md5: bool = True) -> Source:
    """Normalise what a caller passed to ``upload_object``.

    ``part_digest`` names the hash each part carries (``md5``, ``sha256`` or None);
    ``whole_md5`` asks for the MD5 of the whole content as the parts are read.
    """
    kw: dict[str, Any] = {"part_digest": part_digest, "whole_md5": whole_md5}
    if isinstance(source, (bytes, bytearray, memoryview)):
        return BytesSource(source, **kw)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise ValidationError(f"the file to upload does not exist: {path}") from None
        except IsADirectoryError:
            raise ValidationError(f"the path to upload is a folder, not a file: {path}") from None
        except OSError as exc:
            raise ValidationError(f"cannot read the file to upload {path}: {exc.strerror}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise ValidationError(f"the path to upload is {kind}, not a file: {path}")
        return FileSource(fd, 0, st.st_size, owned=True, **kw)
    if hasattr(source, "read"):
        fileobj: Any = source
        if isinstance(fileobj, io.TextIOBase):
            raise ValidationError("open the file to upload in binary mode ('rb'), not text mode")
        try:
            fd = fileobj.fileno()
            start = fileobj.tell()
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and not isinstance(fileobj, io.BufferedWriter):
                return FileSource(fd, start, max(0, st.st_size - start), owned=False, **kw)
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            pass
        return StreamSource(_iter_file(fileobj), **kw)
    if isinstance(source, Iterable):
        return StreamSource(iter(source), **kw)
    raise ValidationError(
        f"cannot upload a {type(source).__name__}: pass a path, bytes, a binary file object or an iterator of bytes"
    )


class MultipartEtag:
    """The multipart ETag of data fed in order: the MD5 of each ``part_size`` part's MD5, then ``-N``
    (how S3 tags an object uploaded in parts)."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.digests: list[bytes] = []
        self.current = md5_new()
        self.in_part = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self.in_part)
            self.current.update(view[:take])
            self.in_part += take
            view = view[take:]
            if self.in_part == self.part_size:
                self.digests.append(self.current.digest())
                self.current, self.in_part = md5_new(), 0

    def etag(self) -> str:
        digests = self.digests + ([self.current.digest()] if self.in_part else [])
        return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


class Verifier:
    """Checks a download against the size and MD5 the provider announced."""

    def __init__(self, what: str, *, size: int | None = None, md5_hex: str | None = None, provider: str | None = None):
        self.what = what
        self.expected_size = size
        self.expected_md5 = md5_hex.lower() if md5_hex else None
        self.provider = provider
        self.received = 0
        self._md5 = md5_new() if self.expected_md5 else None

    def update(self, data: bytes) -> None:
        self.received += len(data)
        if self._md5 is not None:
            self._md5.update(data)

    def verify(self) -> None:
        if self.expected_size is not None and self.received != self.expected_size:
            raise ChecksumMismatch(
                f"{self.what}: received {self.received} bytes, the provider announced {self.expected_size}",
                provider=self.provider,
            )
        if self._md5 is not None and self._md5.hexdigest() != self.expected_md5:
            raise ChecksumMismatch(
                f"{self.what}: MD5 {self._md5.hexdigest()} does not match the provider's {self.expected_md5}",
                provider=self.provider,
            )


class AtomicFile:
    """A file that appears at ``destination`` only when :meth:`commit` is called.

    Data goes to a hidden temporary file in the same folder; commit flushes,
    fsyncs and renames it into place. Any failure (or leaving the ``with``
    block without committing) removes the temporary file, so the destination
    never holds a partial download.
    """

    def __init__(self, destination: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.destination = Path(destination)
        self.overwrite = overwrite
        folder = self.destination.parent
        if not folder.is_dir():
            raise ValidationError(f"the download folder does not exist: {folder}")
        if not overwrite and self.destination.exists():
            raise DestinationExists(f"{self.destination} exists; pass overwrite=True to replace it")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.destination.name}.", suffix=".part", dir=folder)
        self.tmp = Path(tmp)
        self.file = os.fdopen(fd, "wb")
        self.done = False

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> Path:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if self.overwrite:
            os.replace(self.tmp, self.destination)
        else:
            try:
                # link() fails if someone created the destination meanwhile: never clobber it.
                os.link(self.tmp, self.destination)
            except FileExistsError:
                self.abort()
                raise DestinationExists(
                    f"{self.destination} appeared during the download; nothing was overwritten"
                ) from None
            except OSError:
                # Filesystems without hard links: fall back to a rename after one more check.
                if self.destination.exists():
                    self.abort()
                    raise DestinationExists(f"{self.destination} appeared during the download") from None
                os.replace(self.tmp, self.destination)
            else:
                os.unlink(self.tmp)
        self.done = True
        return self.destination

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.abort()
