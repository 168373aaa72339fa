"""The storage conformance suite: the same tests for every storage provider.

Each test runs once per provider (aws on moto, azure on Azurite, local on a
temporary folder); the fixtures in tests/conftest.py start the servers.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import pytest

from driver_core import errors
from tests.conftest import pattern


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_all(storage: Any, container: str, name: str, **kw: Any) -> bytes:
    return b"".join(storage.download_object_as_stream(container, name, **kw))


# ------------------------------------------------------------------ containers
def test_container_lifecycle(storage: Any) -> None:
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    created = storage.create_container(name)
    assert created.name == name
    assert storage.get_container(name).name == name
    assert name in [c.name for c in storage.list_containers()]
    with pytest.raises(errors.Conflict):
        storage.create_container(name)
    storage.delete_container(name)
    with pytest.raises(errors.NotFound):
        storage.get_container(name)
    with pytest.raises(errors.NotFound):
        storage.delete_container(name)
    assert name not in [c.name for c in storage.iterate_containers()]


@pytest.mark.parametrize("bad", ["", "a", "UPPER-case", "has space", "-leading", "x" * 300, "a/b", "a\x00b"])
def test_invalid_container_names_are_refused_before_sending(storage: Any, bad: str) -> None:
    before = {c.name for c in storage.list_containers()}
    with pytest.raises(errors.ValidationError) as info:
        storage.create_container(bad)
    assert "container" in str(info.value)
    assert {c.name for c in storage.list_containers()} == before


def test_delete_non_empty_container_needs_force(storage: Any, container: str) -> None:
    storage.upload_object(container, "keep/me.txt", b"data")
    with pytest.raises(errors.Conflict):
        storage.delete_container(container)
    assert storage.get_object(container, "keep/me.txt").size == 4
    storage.delete_container(container, force=True)
    with pytest.raises(errors.NotFound):
        storage.get_container(container)


def test_missing_container(storage: Any) -> None:
    missing = f"dc-test-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(errors.NotFound):
        storage.get_container(missing)
    with pytest.raises(errors.NotFound):
        storage.upload_object(missing, "x", b"1")
    with pytest.raises(errors.NotFound):
        storage.get_object(missing, "x")
    with pytest.raises(errors.NotFound):
        list(storage.iterate_objects(missing))


# --------------------------------------------------------------------- objects
def sizes(part_size: int) -> list[int]:
    return [0, 1, part_size - 1, part_size, part_size + 1, 2 * part_size + part_size // 2]


@pytest.mark.parametrize("which", range(6), ids=["0B", "1B", "part-1", "part", "part+1", "2.5parts"])
def test_round_trip_sizes(storage: Any, container: str, workdir: Path, which: int) -> None:
    size = sizes(storage.part_size)[which]
    data = pattern(size, seed=which)
    obj = storage.upload_object(container, f"sized/{size}.bin", data)
    assert obj.size == size
    got = storage.get_object(container, f"sized/{size}.bin")
    assert got.size == size
    if got.md5 is not None:
        assert got.md5 == md5(data)
    assert read_all(storage, container, f"sized/{size}.bin", chunk_size=65536) == data
    dest = storage.download_object(container, f"sized/{size}.bin", workdir / "out.bin")
    assert dest.read_bytes() == data
    assert [p.name for p in workdir.iterdir()] == ["out.bin"]


def test_upload_sources(storage: Any, container: str, workdir: Path) -> None:
    size = storage.part_size + 12345
    data = pattern(size, seed=7)
    path = workdir / "source.bin"
    path.write_bytes(data)

    def chunks() -> Any:
        for i in range(0, size, 100_000):
            yield data[i : i + 100_000]

    storage.upload_object(container, "from-path", str(path))
    storage.upload_object(container, "from-pathlib", path)
    with path.open("rb") as f:
        f.seek(10)
        storage.upload_object(container, "from-file-at-offset", f)
    storage.upload_object(container, "from-bytesio", io.BytesIO(data))
    storage.upload_object(container, "from-iterator", chunks())
    storage.upload_object(container, "from-small-iterator", iter([b"ab", b"", b"c"]))
    storage.upload_object(container, "from-bytearray", bytearray(data[:1000]))
    for name in ("from-path", "from-pathlib", "from-bytesio", "from-iterator"):
        assert read_all(storage, container, name) == data, name
    assert read_all(storage, container, "from-file-at-offset") == data[10:]
    assert read_all(storage, container, "from-small-iterator") == b"abc"
    assert read_all(storage, container, "from-bytearray") == data[:1000]


def test_upload_source_errors(storage: Any, container: str, workdir: Path) -> None:
    with pytest.raises(errors.ValidationError, match="does not exist"):
        storage.upload_object(container, "x", str(workdir / "missing.bin"))
    with pytest.raises(errors.ValidationError, match="folder"):
        storage.upload_object(container, "x", str(workdir))
    with pytest.raises(errors.ValidationError, match="binary"):
        storage.upload_object(container, "x", io.StringIO("text"))
    with pytest.raises(errors.ValidationError, match="bytes"):
        storage.upload_object(container, "x", iter(["not", "bytes"]))
    with pytest.raises(errors.ValidationError):
        storage.upload_object(container, "x", 12345)
    assert storage.list_objects(container) == []


def test_failed_stream_upload_leaves_nothing(storage: Any, container: str) -> None:
    def broken() -> Any:
        yield pattern(storage.part_size)
        yield pattern(storage.part_size)
        raise OSError("source went away")

    with pytest.raises(OSError, match="source went away"):
        storage.upload_object(container, "broken", broken())
    assert storage.list_objects(container) == []


NAMES = ["ünïcödé/ファイル ☃.txt", "a/b/c/d.txt", "with space+plus&amp=eq?q#h.txt", "trailing-slash-dir/", "%41%20"]


def test_names_round_trip(storage: Any, container: str) -> None:
    expected = []
    for i, name in enumerate(NAMES):
        if name.endswith("/") and storage.provider == "local":
            continue
        storage.upload_object(container, name, f"content {i}".encode())
        expected.append(name)
    listed = [o.name for o in storage.iterate_objects(container)]
    assert sorted(listed) == sorted(expected)
    for i, name in enumerate(NAMES):
        if name in expected:
            assert read_all(storage, container, name) == f"content {i}".encode()
            assert storage.get_object(container, name).name == name


@pytest.mark.parametrize("bad", ["", "a/../b", "../escape", "./x", "a/./b", "nul\x00byte", "ctrl\x01"])
def test_invalid_object_names(storage: Any, container: str, bad: str) -> None:
    with pytest.raises(errors.ValidationError):
        storage.upload_object(container, bad, b"x")
    assert storage.list_objects(container) == []


def test_prefix_listing(storage: Any, container: str) -> None:
    for name in ["logs/2024/a", "logs/2024/b", "logs/2025/c", "data/x", "logsbook"]:
        storage.upload_object(container, name, b"1")
    assert [o.name for o in storage.iterate_objects(container, prefix="logs/")] == [
        "logs/2024/a",
        "logs/2024/b",
        "logs/2025/c",
    ]
    assert [o.name for o in storage.list_objects(container, prefix="logs")] == [
        "logs/2024/a",
        "logs/2024/b",
        "logs/2025/c",
        "logsbook",
    ]
    assert storage.list_objects(container, prefix="nothing/") == []


def test_listing_past_one_page(storage_factory: Any) -> None:
    storage = storage_factory(page_size=5)
    assert storage.page_size == 5
    container = f"dc-test-{uuid.uuid4().hex[:12]}"
    storage.create_container(container)
    names = [f"obj-{i:03d}" for i in range(23)]
    for name in names:
        storage.upload_object(container, name, name.encode())
    pages = []
    transport = getattr(storage, "transport", None)
    if transport is not None:
        hook = lambda resp, *a, **k: pages.append(resp.request.method)  # noqa: E731
        transport.session.hooks["response"].append(hook)
    listed = [o.name for o in storage.iterate_objects(container)]
    assert listed == names
    assert [o.name for o in storage.iterate_objects(container, prefix="obj-01")] == names[10:20]
    if transport is not None:
        transport.session.hooks["response"].remove(hook)
        assert pages.count("GET") >= 5 + 2  # 23 objects in pages of 5, then 10 in pages of 5
    assert all(o.size == 7 for o in storage.iterate_objects(container))


def test_ranges(storage: Any, container: str) -> None:
    size = storage.part_size + 1000
    data = pattern(size, seed=3)
    storage.upload_object(container, "ranged", data)
    cases = [(0, 1), (5, 10), (None, 100), (size - 10, None), (storage.part_size - 5, storage.part_size + 5), (0, size)]
    for start, end in cases:
        assert read_all(storage, container, "ranged", start=start, end=end) == data[start:end], (start, end)
    assert read_all(storage, container, "ranged", start=3, end=3) == b""
    # Like a Python slice, a range past the end selects nothing and one running over it is cut short.
    assert read_all(storage, container, "ranged", start=size + 10) == b""
    assert read_all(storage, container, "ranged", start=size, end=size + 5) == b""
    assert read_all(storage, container, "ranged", start=size - 3, end=size + 50) == data[-3:]
    chunks = list(
        storage.download_object_as_stream(container, "ranged", chunk_size=4096, start=100, end=100 + 4096 * 3 + 7)
    )
    assert [len(c) for c in chunks] == [4096, 4096, 4096, 7]
    with pytest.raises(errors.ValidationError):
        list(storage.download_object_as_stream(container, "ranged", start=10, end=5))


def test_metadata_and_content_type(storage: Any, container: str) -> None:
    storage.upload_object(container, "page.html", b"<p>hi</p>")
    assert storage.get_object(container, "page.html").content_type == "text/html"
    meta = {"owner": "team_a", "Build": "42", "empty": ""}
    storage.upload_object(container, "blob", b"x", content_type="application/x-custom", metadata=meta)
    got = storage.get_object(container, "blob")
    assert got.content_type == "application/x-custom"
    assert got.metadata == {"owner": "team_a", "build": "42", "empty": ""}
    storage.upload_object(container, "blob", b"y", metadata={"owner": "team_b"})
    assert storage.get_object(container, "blob").metadata == {"owner": "team_b"}


@pytest.mark.parametrize("meta", [{"bad key!": "x"}, {"k": 5}, {"ok": "line\nbreak"}, ["not", "a", "dict"]])
def test_bad_metadata(storage: Any, container: str, meta: Any) -> None:
    with pytest.raises(errors.ValidationError):
        storage.upload_object(container, "m", b"x", metadata=meta)
    assert storage.list_objects(container) == []


def test_delete_and_missing_objects(storage: Any, container: str, workdir: Path) -> None:
    storage.upload_object(container, "gone", b"bye")
    storage.delete_object(container, "gone")
    with pytest.raises(errors.NotFound):
        storage.get_object(container, "gone")
    with pytest.raises(errors.NotFound):
        storage.delete_object(container, "gone")
    with pytest.raises(errors.NotFound):
        storage.download_object(container, "gone", workdir / "gone")
    with pytest.raises(errors.NotFound):
        list(storage.download_object_as_stream(container, "gone"))
    assert list(workdir.iterdir()) == []


def test_download_destination_rules(storage: Any, container: str, workdir: Path) -> None:
    storage.upload_object(container, "dir/file.txt", b"new")
    existing = workdir / "file.txt"
    existing.write_bytes(b"old")
    with pytest.raises(errors.DestinationExists):
        storage.download_object(container, "dir/file.txt", existing)
    assert existing.read_bytes() == b"old"
    with pytest.raises(errors.DestinationExists):
        storage.download_object(container, "dir/file.txt", workdir)  # folder: uses the base name
    assert storage.download_object(container, "dir/file.txt", workdir, overwrite=True) == existing
    assert existing.read_bytes() == b"new"
    with pytest.raises(errors.ValidationError, match="folder does not exist"):
        storage.download_object(container, "dir/file.txt", workdir / "no" / "such" / "dir" / "f")
    assert sorted(p.name for p in workdir.iterdir()) == ["file.txt"]


def test_models_accepted_in_place_of_names(storage: Any, container: str) -> None:
    cont = storage.get_container(container)
    obj = storage.upload_object(cont, "model", b"m")
    assert storage.get_object(cont, obj).size == 1
    assert read_all(storage, cont, obj) == b"m"
    storage.delete_object(cont, obj)
    assert storage.list_objects(cont) == []


def test_64_mib_stream_round_trip(storage_factory: Any, workdir: Path) -> None:
    """A 64 MiB object streamed up (iterator of unknown length) and down, checksums compared."""
    storage = storage_factory(part_size=8 * 1024 * 1024)
    container = f"dc-test-{uuid.uuid4().hex[:12]}"
    storage.create_container(container)
    block = pattern(1024 * 1024, seed=11)
    sent = hashlib.md5()

    def stream() -> Any:
        for i in range(64):
            chunk = bytes([i]) + block[1:]
            sent.update(chunk)
            yield chunk

    obj = storage.upload_object(container, "big/stream.bin", stream())
    assert obj.size == 64 * 1024 * 1024
    received = hashlib.md5()
    total = 0
    for chunk in storage.download_object_as_stream(container, "big/stream.bin", chunk_size=1024 * 1024):
        received.update(chunk)
        total += len(chunk)
    assert total == 64 * 1024 * 1024
    assert received.hexdigest() == sent.hexdigest()
    path = storage.download_object(container, "big/stream.bin", workdir / "big.bin")
    file_md5 = hashlib.md5()
    with path.open("rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            file_md5.update(piece)
    assert file_md5.hexdigest() == sent.hexdigest()


def test_one_driver_shared_between_threads(storage: Any, container: str) -> None:
    """Drivers are safe to share: eight threads upload, list and read back through one."""
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> bytes:
        data = pattern(20_000 + i, seed=i)
        storage.upload_object(container, f"threads/{i}", data, metadata={"n": str(i)})
        assert storage.get_object(container, f"threads/{i}").metadata == {"n": str(i)}
        return read_all(storage, container, f"threads/{i}")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(24)))
    assert results == [pattern(20_000 + i, seed=i) for i in range(24)]
    assert len(storage.list_objects(container, prefix="threads/")) == 24
