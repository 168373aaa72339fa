"""A short storage walk-through: the same code on the local provider and on an S3 server.

Run by ``bash scripts/demo.sh``. It starts a local S3 server (moto) on
loopback, so no cloud account is needed, and stops it at the end.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import driver_core
from tests.backends import running, start_moto


def walk(storage: Any, workdir: Path) -> None:
    print(f"\n== provider {storage.provider!r}")
    bucket = "walkthrough-demo"
    storage.create_container(bucket)
    print(f"created container {bucket!r}; containers now: {[c.name for c in storage.list_containers()]}")

    storage.upload_object(bucket, "notes/hello.txt", b"hello from driver-core\n", metadata={"owner": "demo"})
    obj = storage.get_object(bucket, "notes/hello.txt")
    print(f"uploaded {obj.name}: {obj.size} bytes, {obj.content_type}, md5 {obj.md5}, metadata {obj.metadata}")

    big = workdir / "big.bin"
    with big.open("wb") as f:
        for i in range(24):
            f.write(bytes([i]) * (1024 * 1024))
    started = time.perf_counter()
    obj = storage.upload_object(bucket, "data/big.bin", big, part_size=8 * 1024 * 1024)
    print(f"uploaded 24 MiB from a file in {time.perf_counter() - started:.2f} s ({obj.extra.get('parts', 1)} parts)")

    print("objects under data/ and notes/:", [o.name for o in storage.iterate_objects(bucket)])
    piece = b"".join(storage.download_object_as_stream(bucket, "notes/hello.txt", start=6, end=18))
    print(f"bytes [6, 18) of hello.txt: {piece!r}")

    started = time.perf_counter()
    dest = storage.download_object(bucket, "data/big.bin", workdir / "big-copy.bin", overwrite=True)
    same = hashlib.md5(dest.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    print(f"downloaded to {dest.name} in {time.perf_counter() - started:.2f} s, verified and identical: {same}")

    try:
        storage.get_object(bucket, "no/such/object")
    except driver_core.NotFound as exc:
        print(f"a missing object is a clear error: {exc}")
    try:
        storage.delete_container(bucket)
    except driver_core.Conflict as exc:
        print(f"a non-empty container is kept: {exc}")
    storage.delete_container(bucket, force=True)
    print(f"deleted {bucket!r} and its objects")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="driver-core-demo-") as tmp:
        workdir = Path(tmp)
        root = workdir / "local-storage"
        local = driver_core.get_driver("storage", "local", endpoint=str(root))
        walk(local, workdir)
        print(f"(the local provider keeps plain files under {root})")

        print("\nstarting a local S3 server (moto) on 127.0.0.1 ...")
        with running(start_moto()) as server:
            s3 = driver_core.get_driver(
                "storage", "aws", key="demo-key", secret="demo-secret", region="us-east-1", endpoint=server.url
            )
            walk(s3, workdir)
            s3.close()
    print("\nwalk-through complete")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
