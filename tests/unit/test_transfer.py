"""Upload sources cut into parts, and atomic files."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from driver_core import errors
from driver_core.transfer import AtomicFile, BytesSource, FileSource, StreamSource, Verifier, open_source


def collect(source: object, part_size: int) -> list[bytes]:
    out = []
    for part in source.parts(part_size):  # type: ignore[attr-defined]
        body = part.body if isinstance(part.body, bytes) else part.body.read()
        assert len(body) == part.size
        assert hashlib.md5(body).digest() == part.digest
        out.append(body)
    return out


DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.mark.parametrize("part_size", [1, 1000, 1024, 10239, 10240, 10241, 50000])
def test_every_source_kind_cuts_the_same_parts(tmp_path: Path, part_size: int) -> None:
    path = tmp_path / "data"
    path.write_bytes(DATA)
    expected = [DATA[i : i + part_size] for i in range(0, len(DATA), part_size)]
    sources = [
        open_source(DATA),
        open_source(bytearray(DATA)),
        open_source(memoryview(DATA)),
        open_source(str(path)),
        open_source(io.BytesIO(DATA)),
        open_source(iter([DATA[:7], b"", DATA[7:5000], DATA[5000:]])),
        open_source(iter([DATA])),
    ]
    for src in sources:
        assert collect(src, part_size) == expected, type(src).__name__
        assert src.whole_md5 == hashlib.md5(DATA).digest()
        src.close()


def test_part_digest_algorithms(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(DATA)
    for make in (lambda: DATA, lambda: str(path), lambda: iter([DATA])):
        sha = open_source(make(), part_digest="sha256", whole_md5=False)
        parts = list(sha.parts(4096))
        assert [p.digest for p in parts] == [hashlib.sha256(DATA[i : i + 4096]).digest() for i in range(0, 10240, 4096)]
        assert sha.whole_md5 is None
        none = open_source(make(), part_digest=None, whole_md5=True)
        assert [p.digest for p in none.parts(4096)] == [b"", b"", b""]
        assert none.whole_md5 == hashlib.md5(DATA).digest()


def test_source_kinds(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    assert isinstance(open_source(b"x"), BytesSource)
    with path.open("rb") as f:
        f.seek(4)
        src = open_source(f)
        assert isinstance(src, FileSource) and src.size == 6
        assert collect(src, 4) == [b"4567", b"89"]
    assert isinstance(open_source(io.BytesIO(b"x")), StreamSource)
    assert open_source(iter([b"a"])).size is None


def test_empty_sources_give_one_empty_part(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    for src in (open_source(b""), open_source(str(path)), open_source(iter([]))):
        assert collect(src, 8) == [b""]


def test_slice_bodies_rewind_for_retries(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    for src in (open_source(str(path)), open_source(DATA)):
        part = list(src.parts(4096))[1]
        body = part.body
        assert not isinstance(body, bytes)
        assert len(body) == 4096
        first = body.read(100)
        body.seek(0)
        assert body.read() == DATA[4096:8192] and first == DATA[4096:4196]


def test_atomic_file_commit_and_abort(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    with AtomicFile(dest) as f:
        f.write(b"partial")
    assert list(tmp_path.iterdir()) == []
    with AtomicFile(dest) as f:
        f.write(b"whole")
        f.commit()
    assert dest.read_bytes() == b"whole"
    with pytest.raises(errors.DestinationExists):
        AtomicFile(dest)
    with AtomicFile(dest, overwrite=True) as f:
        f.write(b"new")
        f.commit()
    assert dest.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_file_never_clobbers_a_file_that_appears(tmp_path: Path) -> None:
    dest = tmp_path / "raced"
    with AtomicFile(dest) as f:
        f.write(b"mine")
        dest.write_bytes(b"someone else's")
        with pytest.raises(errors.DestinationExists):
            f.commit()
    assert dest.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["raced"]


def test_verifier() -> None:
    good = Verifier("x", size=3, md5_hex=hashlib.md5(b"abc").hexdigest())
    good.update(b"ab")
    good.update(b"c")
    good.verify()
    short = Verifier("x", size=4)
    short.update(b"abc")
    with pytest.raises(errors.ChecksumMismatch, match="3 bytes"):
        short.verify()
    wrong = Verifier("x", md5_hex="0" * 32)
    wrong.update(b"abc")
    with pytest.raises(errors.ChecksumMismatch, match="MD5"):
        wrong.verify()


def test_source_that_changes_size_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "shrinks"
    path.write_bytes(DATA)
    src = open_source(str(path))
    parts = src.parts(4096)
    first = next(parts)
    os.truncate(path, 100)
    with pytest.raises(errors.ValidationError, match=r"changed size|shorter"):
        first.body.read()  # type: ignore[union-attr]


@pytest.mark.parametrize("digest", ["md5", "sha256", None])
def test_file_parts_are_streamed_not_loaded(tmp_path: Path, digest: str | None) -> None:
    """Hashing and sending a 32 MiB file keeps at most a block or two in memory (traced allocations)."""
    import tracemalloc

    path = tmp_path / "big"
    with path.open("wb") as f:
        for _ in range(32):
            f.write(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        src = open_source(str(path), part_digest=digest, whole_md5=True)
        for part in src.parts(16 << 20):
            body = part.body
            assert not isinstance(body, bytes)
            while body.read(16384):
                pass
        src.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_multipart_etag_matches_the_s3_rule() -> None:
    from driver_core.transfer import MultipartEtag

    parts = [DATA[:4096], DATA[4096:8192], DATA[8192:]]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    whole = MultipartEtag(4096)
    for chunk in (DATA[:100], DATA[100:5000], DATA[5000:]):  # chunks that straddle part borders
        whole.update(chunk)
    assert whole.etag() == expected
