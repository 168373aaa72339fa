"""A short walk-through: storage on the local provider and on an S3 server, then DNS zone files.

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
    parts = obj.extra.get("parts")
    how = f"in {parts} parts" if parts else "in one verified request"
    print(f"uploaded 24 MiB from a file {how} in {time.perf_counter() - started:.2f} s")

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


def dns_walk(workdir: Path) -> None:
    print("\n== DNS on provider 'local' (zone files)")
    dns = driver_core.get_driver("dns", "local", endpoint=str(workdir / "zones"))
    zone = dns.create_zone("example.test", ttl=3600)
    dns.create_record(zone, "ns1", "A", ["192.0.2.53"])
    dns.create_record(zone, "www", "A", ["192.0.2.10", "192.0.2.11"], ttl=300)
    dns.create_record(zone, "@", "MX", ["10 mail.example.test"])
    dns.create_record(zone, "@", "TXT", ["v=spf1 mx -all"])
    dns.update_record(zone, "www.example.test.", "A", ["192.0.2.12"])  # any name form works
    print("record sets:", [(r.name, r.type, r.values) for r in dns.iterate_records(zone)])
    print("the zone file, as a real DNS server would load it:\n")
    print(dns.export_bind(zone))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="driver-core-demo-") as tmp:
        workdir = Path(tmp)
        root = workdir / "local-storage"
        local = driver_core.get_driver("storage", "local", endpoint=str(root))
        walk(local, workdir)
        print(f"(the local provider keeps plain files under {root})")
        dns_walk(workdir)

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
