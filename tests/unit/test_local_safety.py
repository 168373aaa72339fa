"""Safety of the local storage provider: names cannot escape, links are not followed, writes are atomic."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import driver_core
from driver_core.errors import Conflict, NotFound, ValidationError
from driver_core.profiles import ConnectionOptions
from driver_core.providers.local.storage import TEMP_PREFIX, LocalStorageDriver

ESCAPES = [
    "../x",
    "a/../../x",
    "../../../../tmp/escaped",
    "/etc/passwd",
    "a\\..\\b",
    "..\\x",
    "a\x00b",
    "a\nb",
    "a//b",
    "a/",
    "./a",
    "a/./b",
    "..",
    ".",
    "",
    TEMP_PREFIX + "x",
    "a/" + TEMP_PREFIX + "y",
    "x" * 256,
    "bad\udcff",
]


def make_driver(root: Path, **options: object) -> LocalStorageDriver:
    return LocalStorageDriver(ConnectionOptions(provider="local", endpoint=str(root), options=dict(options)))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(b"top secret")
    return folder


@pytest.fixture
def driver(tmp_path: Path) -> LocalStorageDriver:
    drv = make_driver(tmp_path / "root")
    drv.create_container("box")
    return drv


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder`` with the content of files (links are recorded, not followed)."""
    found: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for entry in dirnames + filenames:
            path = Path(dirpath) / entry
            found[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


def temp_files(folder: Path) -> list[str]:
    return [str(Path(d) / f) for d, _, files in os.walk(folder) for f in files if f.startswith(TEMP_PREFIX)]


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("name", ESCAPES)
def test_escaping_names_are_rejected_everywhere(driver: LocalStorageDriver, tmp_path: Path, name: str) -> None:
    before = snapshot(tmp_path)
    with pytest.raises(ValidationError):
        driver.upload_object("box", name, b"payload")
    with pytest.raises(ValidationError):
        driver.upload_object("box", name, iter([b"pay", b"load"]))
    with pytest.raises(ValidationError):
        driver.get_object("box", name)
    with pytest.raises(ValidationError):
        list(driver.download_object_as_stream("box", name))
    with pytest.raises(ValidationError):
        driver.download_object("box", name, tmp_path / "dest.bin")
    with pytest.raises(ValidationError):
        driver.delete_object("box", name)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "a\\b", "x" * 256, "caf\u00e9", ".driver-core"])
def test_bad_container_names_are_rejected(driver: LocalStorageDriver, name: str) -> None:
    with pytest.raises(ValidationError):
        driver.create_container(name)
    with pytest.raises(ValidationError):
        driver.upload_object(name, "x", b"data")


def test_missing_endpoint_names_the_environment_variable() -> None:
    with pytest.raises(ValidationError, match="DRIVER_CORE_LOCAL_STORAGE"):
        LocalStorageDriver(ConnectionOptions(provider="local"))


def test_endpoint_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIVER_CORE_LOCAL_STORAGE", str(tmp_path / "env root"))
    drv = driver_core.get_driver("storage", "local")
    assert isinstance(drv, LocalStorageDriver) and drv.root == tmp_path / "env root"
    assert drv.list_containers() == []


def test_file_url_endpoint_and_root_creation(tmp_path: Path) -> None:
    drv = LocalStorageDriver(ConnectionOptions(provider="local", endpoint=(tmp_path / "new root").as_uri()))
    assert drv.root == tmp_path / "new root"
    drv.create_container("ccc")
    drv.upload_object("ccc", "a/b.txt", b"hi")
    assert (tmp_path / "new root" / "ccc" / "a" / "b.txt").read_bytes() == b"hi"


# ------------------------------------------------------------------ links
def test_link_to_outside_folder_is_not_followed(driver: LocalStorageDriver, outside: Path, tmp_path: Path) -> None:
    (driver.root / "box" / "link").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    with pytest.raises(ValidationError, match="symbolic link"):
        driver.upload_object("box", "link/planted.txt", b"evil")
    with pytest.raises(ValidationError, match="symbolic link"):
        driver.upload_object("box", "link/deeper/planted.txt", iter([b"evil"]))
    with pytest.raises(ValidationError):
        list(driver.download_object_as_stream("box", "link/secret.txt"))
    with pytest.raises(ValidationError):
        driver.download_object("box", "link/secret.txt", tmp_path / "stolen.txt")
    with pytest.raises(ValidationError):
        driver.get_object("box", "link/secret.txt")
    with pytest.raises(ValidationError):
        driver.delete_object("box", "link/secret.txt")
    assert snapshot(outside) == before
    assert not (tmp_path / "stolen.txt").exists()
    assert driver.list_objects("box") == []


def test_link_to_outside_file_is_not_followed(driver: LocalStorageDriver, outside: Path, tmp_path: Path) -> None:
    link = driver.root / "box" / "evil.txt"
    link.symlink_to(outside / "secret.txt")
    with pytest.raises(ValidationError, match="symbolic link"):
        driver.upload_object("box", "evil.txt", b"overwritten")
    with pytest.raises(ValidationError):
        list(driver.download_object_as_stream("box", "evil.txt"))
    with pytest.raises(ValidationError):
        driver.get_object("box", "evil.txt")
    with pytest.raises(ValidationError):
        driver.delete_object("box", "evil.txt")
    assert (outside / "secret.txt").read_bytes() == b"top secret"
    assert link.is_symlink()
    assert driver.list_objects("box") == []
    with pytest.raises(Conflict, match="not objects"):
        driver.delete_container("box")


def test_linked_container_is_not_followed(driver: LocalStorageDriver, outside: Path) -> None:
    (driver.root / "linked").symlink_to(outside, target_is_directory=True)
    assert [c.name for c in driver.list_containers()] == ["box"]
    with pytest.raises(ValidationError):
        driver.get_container("linked")
    with pytest.raises(ValidationError):
        driver.upload_object("linked", "x", b"evil")
    with pytest.raises(ValidationError):
        driver.get_object("linked", "secret.txt")
    with pytest.raises(ValidationError):
        driver.list_objects("linked")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_special_files_are_not_opened(driver: LocalStorageDriver) -> None:
    os.mkfifo(driver.root / "box" / "pipe")
    assert driver.list_objects("box") == []
    with pytest.raises(ValidationError, match="not a regular file"):
        driver.get_object("box", "pipe")
    with pytest.raises(ValidationError, match="not a regular file"):
        list(driver.download_object_as_stream("box", "pipe"))


# --------------------------------------------------------- file vs folder
def test_object_and_folder_of_same_name_conflict(driver: LocalStorageDriver) -> None:
    driver.upload_object("box", "a", b"file")
    with pytest.raises(Conflict, match="cannot both exist"):
        driver.upload_object("box", "a/b", b"nested")
    driver.upload_object("box", "x/y", b"nested")
    with pytest.raises(Conflict, match="cannot both exist"):
        driver.upload_object("box", "x", b"file")
    with pytest.raises(NotFound):
        driver.get_object("box", "x")
    with pytest.raises(NotFound):
        driver.get_object("box", "a/b")
    assert [o.name for o in driver.list_objects("box")] == ["a", "x/y"]
    assert temp_files(driver.root) == []


# ------------------------------------------------------------ concurrency
def test_concurrent_writers_never_tear_an_object(driver: LocalStorageDriver) -> None:
    size = 2 * 1024 * 1024
    patterns = [hashlib.sha256(bytes([i])).digest() * (size // 32) for i in range(8)]
    md5s = {hashlib.md5(p).hexdigest(): i for i, p in enumerate(patterns)}
    driver.upload_object("box", "shared/obj.bin", patterns[0], metadata={"writer": "0"})
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def writer(i: int) -> None:
        try:
            for n in range(20):
                source = patterns[i] if n % 2 else iter([patterns[i][:1000], patterns[i][1000:]])
                driver.upload_object("box", "shared/obj.bin", source, metadata={"writer": str(i)}, part_size=256 * 1024)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                data = b"".join(driver.download_object_as_stream("box", "shared/obj.bin", chunk_size=300_000))
                assert hashlib.md5(data).hexdigest() in md5s
                obj = driver.get_object("box", "shared/obj.bin")
                assert obj.md5 in md5s and obj.size == size
                assert obj.metadata == {"writer": str(md5s[obj.md5])}
                reads[0] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert reads[0] > 0
    final = (driver.root / "box" / "shared" / "obj.bin").read_bytes()
    writer_id = md5s[hashlib.md5(final).hexdigest()]
    sidecars = list((driver.root / ".driver-core" / "meta" / "box").iterdir())
    assert len(sidecars) == 1
    record = json.loads(sidecars[0].read_text())
    assert record["md5"] == hashlib.md5(final).hexdigest()
    assert record["metadata"] == {"writer": str(writer_id)}
    assert driver.get_object("box", "shared/obj.bin").md5 == record["md5"]
    assert temp_files(driver.root) == []


# --------------------------------------------------------------- failures
def failing_source() -> Iterator[bytes]:
    yield b"x" * 100_000
    yield b"y" * 100_000
    raise RuntimeError("source broke")


def test_failing_source_leaves_nothing(driver: LocalStorageDriver) -> None:
    with pytest.raises(RuntimeError, match="source broke"):
        driver.upload_object("box", "deep/er/obj.bin", failing_source(), part_size=64 * 1024)
    with pytest.raises(NotFound):
        driver.get_object("box", "deep/er/obj.bin")
    assert temp_files(driver.root) == []
    assert list((driver.root / "box").iterdir()) == []


def test_failing_overwrite_keeps_previous_object(driver: LocalStorageDriver) -> None:
    driver.upload_object("box", "deep/obj.bin", b"original", metadata={"v": "1"})
    with pytest.raises(RuntimeError):
        driver.upload_object("box", "deep/obj.bin", failing_source())
    obj = driver.get_object("box", "deep/obj.bin")
    assert obj.metadata == {"v": "1"} and obj.md5 == hashlib.md5(b"original").hexdigest()
    assert b"".join(driver.download_object_as_stream("box", "deep/obj.bin")) == b"original"
    assert temp_files(driver.root) == []


# ------------------------------------------------------------- behaviour
def test_round_trip_ranges_and_hand_dropped_files(driver: LocalStorageDriver, tmp_path: Path) -> None:
    obj = driver.upload_object("box", "docs/a.txt", b"0123456789", metadata={"k": "v\u00e9"})
    assert obj.md5 == hashlib.md5(b"0123456789").hexdigest() and obj.content_type == "text/plain"
    assert b"".join(driver.download_object_as_stream("box", "docs/a.txt", start=2, end=5, chunk_size=2)) == b"234"
    assert b"".join(driver.download_object_as_stream("box", "docs/a.txt", start=8)) == b"89"
    assert b"".join(driver.download_object_as_stream("box", "docs/a.txt", start=10)) == b""
    (driver.root / "box" / "dropped.json").write_bytes(b"{}")
    dropped = driver.get_object("box", "dropped.json")
    assert dropped.md5 is None and dropped.content_type == "application/json"
    assert driver.download_object("box", "dropped.json", tmp_path).read_bytes() == b"{}"
    (driver.root / "box" / "docs" / "a.txt").write_bytes(b"changed by hand")
    assert driver.get_object("box", "docs/a.txt").md5 is None  # stale sidecar ignored
    assert b"".join(driver.download_object_as_stream("box", "docs/a.txt")) == b"changed by hand"


def test_listing_order_prefix_and_pages(tmp_path: Path) -> None:
    drv = make_driver(tmp_path / "root", page_size=2)
    drv.create_container("ccc")
    names = ["a/b", "a-c", "a.x", "a0", "b", "a/b/../c".replace("/../", "-"), "z/\u00e9", "z/e", "z/y/x"]
    for name in names:
        drv.upload_object("ccc", name, name.encode())
    listed = [o.name for o in drv.iterate_objects("ccc")]
    assert listed == sorted(names, key=lambda n: n.encode("utf-8"))
    assert [o.name for o in drv.iterate_objects("ccc", prefix="a/")] == ["a/b", "a/b-c"]
    assert [o.name for o in drv.iterate_objects("ccc", prefix="z/")] == ["z/e", "z/y/x", "z/\u00e9"]
    assert [o.name for o in drv.iterate_objects("ccc", prefix="nothing")] == []


def test_delete_prunes_folders_and_containers(driver: LocalStorageDriver) -> None:
    driver.upload_object("box", "p/q/r.txt", b"1")
    driver.upload_object("box", "p/s.txt", b"2")
    driver.delete_object("box", "p/q/r.txt")
    assert sorted(p.name for p in (driver.root / "box" / "p").iterdir()) == ["s.txt"]
    with pytest.raises(NotFound):
        driver.delete_object("box", "p/q/r.txt")
    with pytest.raises(Conflict, match="not empty"):
        driver.delete_container("box")
    driver.delete_container("box", force=True)
    assert not (driver.root / "box").exists()
    assert not (driver.root / ".driver-core" / "meta" / "box").exists()
    with pytest.raises(NotFound):
        driver.delete_container("box")
    driver.create_container("box")
    with pytest.raises(Conflict, match="already exists"):
        driver.create_container("box")
    assert driver.get_container("box").created is not None
