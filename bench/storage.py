"""Storage benchmark: driver-core against boto3, apache-libcloud and raw requests on one local moto server.

Run from the repository root with ``python bench/storage.py`` (see ``bench/README.md``). It is a
measurement, not a test: it always exits 0 once it has measured, whatever the targets say.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
Times = dict[str, dict[str, list[float]]]  # workload -> client -> seconds per run
CLIENTS = ("driver-core", "boto3", "libcloud", "requests")
PEERS = {"boto3": 0.9, "libcloud": 0.9, "requests": 1.05}  # driver-core's time must be <= target x peer's
RSS_TARGET_MIB = 16.0
COLD_TARGET = 1.1
# moto checks no signature but routes on the credential scope, so raw requests send a scoped, unsigned header.
SCOPED_AUTH = "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
COLD_START = {
    "python": "pass",
    "requests": "import requests",
    "driver-core": "import driver_core; driver_core.get_driver('storage', 'aws', key='k', secret='s', "
    "endpoint='http://127.0.0.1:1')",
    "boto3": "import boto3; boto3.client('s3', endpoint_url='http://127.0.0.1:1', region_name='us-east-1', "
    "aws_access_key_id='k', aws_secret_access_key='s')",
    "libcloud": "from libcloud.storage.providers import get_driver; from libcloud.storage.types import Provider; "
    "get_driver(Provider.S3)('k', 's', host='127.0.0.1', port=1, secure=False)",
}


# ------------------------------------------------------------------ clients
class DriverCoreClient:
    def __init__(self, url: str) -> None:
        import driver_core

        self.d = driver_core.get_driver("storage", "aws", key="bench", secret="bench", region="us-east-1", endpoint=url)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.d.upload_object(bucket, key, data)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return b"".join(self.d.download_object_as_stream(bucket, key, chunk_size=MiB))

    def put_file(self, bucket: str, key: str, path: str) -> None:
        self.d.upload_object(bucket, key, path)

    def get_file(self, bucket: str, key: str, path: str) -> None:
        self.d.download_object(bucket, key, path, overwrite=True)


class Boto3Client:
    def __init__(self, url: str) -> None:
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"})
        creds = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        self.c = boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=config, **creds)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.c.put_object(Bucket=bucket, Key=key, Body=data)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        data: bytes = self.c.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def put_file(self, bucket: str, key: str, path: str) -> None:
        self.c.upload_file(path, bucket, key)  # default TransferConfig

    def get_file(self, bucket: str, key: str, path: str) -> None:
        self.c.download_file(bucket, key, path)


class LibcloudClient:
    def __init__(self, url: str) -> None:
        from libcloud.storage.providers import get_driver
        from libcloud.storage.types import Provider

        host, port = url.rsplit("//", 1)[1].split(":")
        s3: Any = get_driver(Provider.S3)
        self.d = s3("bench", "bench", host=host, port=int(port), secure=False)
        # Otherwise upload_object_via_stream makes every 1 KiB object a 3-request multipart upload.
        self.d.supports_s3_multipart_upload = False

    def _container(self, bucket: str) -> Any:
        from libcloud.storage.base import Container

        return Container(bucket, {}, self.d)

    def _obj(self, bucket: str, key: str) -> Any:
        from libcloud.storage.base import Object

        # Built locally rather than fetched, so each GET costs one request as for the other clients.
        return Object(key, 0, "", {}, {}, self._container(bucket), self.d)

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.d.upload_object_via_stream(iter([data]), self._container(bucket), key)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        return b"".join(self.d.download_object_as_stream(self._obj(bucket, key)))

    def put_file(self, bucket: str, key: str, path: str) -> None:
        self.d.upload_object(path, self._container(bucket), key)

    def get_file(self, bucket: str, key: str, path: str) -> None:
        obj = self.d.get_object(bucket, key)  # download_object needs the size, so HEAD first (the usual way)
        self.d.download_object(obj, path, overwrite_existing=True)


class RequestsClient:
    def __init__(self, url: str) -> None:
        import requests

        self.url = url
        self.s = requests.Session()
        self.s.headers["Authorization"] = SCOPED_AUTH
        self.put_headers = {"Content-Type": "application/octet-stream"}  # form-encoded bodies are stored empty

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        self.s.put(f"{self.url}/{bucket}/{key}", data=data, headers=self.put_headers).raise_for_status()

    def get_bytes(self, bucket: str, key: str) -> bytes:
        resp = self.s.get(f"{self.url}/{bucket}/{key}")
        resp.raise_for_status()
        return resp.content

    def put_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.s.put(f"{self.url}/{bucket}/{key}", data=f, headers=self.put_headers).raise_for_status()

    def get_file(self, bucket: str, key: str, path: str) -> None:
        with self.s.get(f"{self.url}/{bucket}/{key}", stream=True) as resp, open(path, "wb") as f:
            resp.raise_for_status()
            f.writelines(resp.iter_content(MiB))


ADAPTERS: dict[str, Any] = dict(zip(CLIENTS, (DriverCoreClient, Boto3Client, LibcloudClient, RequestsClient)))


# ------------------------------------------------------------- moto server
def reset(url: str) -> None:
    import requests

    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


def make_bucket(url: str, bucket: str) -> None:
    import requests

    requests.put(f"{url}/{bucket}", headers={"Authorization": SCOPED_AUTH}, timeout=10).raise_for_status()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """The same moto launcher the tests use (tests/backends.py); stopped on exit, even on Ctrl-C."""
    sys.path.insert(0, str(ROOT))
    from tests.backends import running, start_moto

    with running(start_moto()) as server:
        yield server.url


# ---------------------------------------------------------------- measuring
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[dict[str, float]]:
    """Peak RSS growth over a block, in MiB: VmHWM reset via clear_refs, else VmRSS sampled every 5 ms."""
    gc.collect()
    base = _status_kib("VmRSS")
    result = {"mib": 0.0}
    samples = [base]
    stop = threading.Event()
    sampler: threading.Thread | None = None
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:

        def sample() -> None:
            while not stop.wait(0.005):
                samples.append(_status_kib("VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
    try:
        yield result
    finally:
        stop.set()
        if sampler:
            sampler.join()
        peak = max(*samples, _status_kib("VmRSS"), 0 if sampler else _status_kib("VmHWM"))
        result["mib"] = (peak - base) / 1024


def child_main(client: str, op: str, url: str, bucket: str, path: str) -> None:
    """One 64 MiB transfer in a fresh process, after a 1 KiB warm-up through the same call."""
    c = ADAPTERS[client](url)
    if op == "put":
        warm = Path(path).with_name(f"warm-up-{client}")
        warm.write_bytes(b"w" * 1024)
        c.put_file(bucket, "warm", str(warm))
    else:
        c.get_file(bucket, "warm", str(Path(path).with_name(f"warm-down-{client}")))
    with peak_rss_growth() as rss:
        start = time.perf_counter()
        (c.put_file if op == "put" else c.get_file)(bucket, "big", path)
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_mib": rss["mib"]}))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run_child(*args: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=900, check=False)
    if proc.returncode:
        raise RuntimeError(f"child {args[:2]} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _rotated(round_: int) -> tuple[str, ...]:
    """The clients in a different order every round, so none always runs first after a reset."""
    k = round_ % len(CLIENTS)
    return CLIENTS[k:] + CLIENTS[:k]


def bench_small(url: str, count: int, repeat: int) -> Times:
    payload = os.urandom(1024)
    clients = {name: ADAPTERS[name](url) for name in CLIENTS}
    times: Times = {"1 KiB PUT": {}, "1 KiB GET": {}}
    for name, c in clients.items():  # untimed warm-up of the clients' and the server's code paths
        make_bucket(url, f"bench-{name}")
        for i in range(20):
            c.put_bytes(f"bench-{name}", f"warm-{i}", payload)
            c.get_bytes(f"bench-{name}", f"warm-{i}")
    for r in range(repeat):
        for name in _rotated(r):
            c = clients[name]
            reset(url)
            bucket = f"bench-{name}"
            make_bucket(url, bucket)
            start = time.perf_counter()
            for i in range(count):
                c.put_bytes(bucket, f"obj-{i:05d}", payload)
            mid = time.perf_counter()
            for i in range(count):
                if c.get_bytes(bucket, f"obj-{i:05d}") != payload:
                    raise RuntimeError(f"{name} read back wrong bytes")
            end = time.perf_counter()
            times["1 KiB PUT"].setdefault(name, []).append(mid - start)
            times["1 KiB GET"].setdefault(name, []).append(end - mid)
            print(f"  small  {name:12} PUT {mid - start:7.3f} s  GET {end - mid:7.3f} s", file=sys.stderr)
    return times


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            h.update(block)
    return h.hexdigest()


def bench_big(url: str, mib: int, repeat: int, tmp: Path) -> tuple[Times, Times]:
    src = tmp / "big.bin"
    with open(src, "wb") as f:
        f.writelines(os.urandom(MiB) for _ in range(mib))
    digest = _sha256(src)
    times: Times = {f"{mib} MiB PUT": {}, f"{mib} MiB GET": {}}
    rss: Times = {name: {"PUT": [], "GET": []} for name in CLIENTS}
    for r in range(repeat):
        reset(url)
        for name in _rotated(r):
            bucket = f"bench-{name}"
            make_bucket(url, bucket)
            dest = tmp / f"down-{name}.bin"
            for op, path in (("PUT", src), ("GET", dest)):
                got = run_child(name, op.lower(), url, bucket, str(path))
                times[f"{mib} MiB {op}"].setdefault(name, []).append(got["seconds"])
                rss[name][op].append(got["rss_mib"])
                print(f"  big   {name:12} {op} {got['seconds']:7.3f} s  RSS +{got['rss_mib']:.1f} MiB", file=sys.stderr)
            if _sha256(dest) != digest:
                raise RuntimeError(f"{name} downloaded different bytes")
            dest.unlink()
    return times, rss


def bench_cold(runs: int, tmp: Path) -> dict[str, list[float]]:
    # Bytecode as an installed package has it, cached outside the repository (even with PYTHONDONTWRITEBYTECODE).
    env = {k: v for k, v in _env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    times: dict[str, list[float]] = {name: [] for name in COLD_START}
    for i in range(runs + 1):  # the first round only fills the caches
        for name, code in COLD_START.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True)
            if i:
                times[name].append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------- reporting
def _check(checks: list[dict[str, Any]], what: str, value: float, target: float) -> str:
    checks.append({"what": what, "value": value, "target": target, "pass": value <= target})
    return "PASS" if value <= target else "MISS"


def report(times: Times, rss: Times, cold: dict[str, list[float]]) -> dict[str, Any]:
    """Print the tables and return everything (runs, medians, checks) for --json."""
    med = {w: {c: statistics.median(v) for c, v in per.items()} for w, per in times.items()}
    checks: list[dict[str, Any]] = []
    head = f"{'workload (median s)':20}" + "".join(f"{c:>12}" for c in CLIENTS)
    head += "".join(f"{f'dc/{p} (<={t})':>21}" for p, t in PEERS.items())
    print("\n" + head + "\n" + "-" * len(head))
    for w, per in med.items():
        line = f"{w:20}" + "".join(f"{per[c]:>12.3f}" for c in CLIENTS)
        for peer, target in PEERS.items():
            ratio = per["driver-core"] / per[peer]
            line += f"{ratio:>16.2f} {_check(checks, f'{w} driver-core/{peer}', ratio, target)}"
        print(line)
    rss_max = {c: {op: max(v) for op, v in per.items()} for c, per in rss.items()}
    print(f"\nPeak RSS growth in the big transfers (MiB, worst run; driver-core target <= {RSS_TARGET_MIB:g})")
    for c, per in rss_max.items():
        line = f"  {c:12}" + "".join(f"  {op} {v:7.1f}" for op, v in per.items())
        if c == "driver-core":
            line += "".join(
                f"  {op} {_check(checks, f'RSS growth {op} MiB', v, RSS_TARGET_MIB)}" for op, v in per.items()
            )
        print(line)
    cold_med = {c: statistics.median(v) for c, v in cold.items()}
    print(f"\nCold start to a ready client (median s; driver-core target <= {COLD_TARGET}x import requests)")
    for c, v in cold_med.items():
        print(f"  {c:12} {v:7.3f}   {v / cold_med['requests']:5.2f}x import requests")
    ratio = cold_med["driver-core"] / cold_med["requests"]
    print(f"  driver-core/requests {ratio:.2f} {_check(checks, 'cold start driver-core/requests', ratio, COLD_TARGET)}")
    print(f"\nTargets: {sum(ch['pass'] for ch in checks)}/{len(checks)} PASS")
    for ch in checks:
        if not ch["pass"]:
            print(f"  MISS {ch['what']}: {ch['value']:.2f} > {ch['target']}")
    medians = {"median_seconds": med, "cold_start_median": cold_med}
    return {"runs": times, "rss_growth_mib": rss, "cold_start_runs": cold, **medians, "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload; the median is reported")
    parser.add_argument("--small-count", type=int, default=1000, help="number of 1 KiB objects")
    parser.add_argument("--big-mib", type=int, default=64, help="size of the big object in MiB")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh interpreters per cold-start case")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(*args.child)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped on SIGTERM too
    sys.path.insert(0, str(ROOT))
    with moto_server() as url, tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        print(f"moto at {url}; repeat={args.repeat} small={args.small_count} big={args.big_mib} MiB", file=sys.stderr)
        times = bench_small(url, args.small_count, args.repeat)
        big_times, rss = bench_big(url, args.big_mib, args.repeat, Path(tmp))
        cold = bench_cold(args.cold_runs, Path(tmp))
    result = report({**times, **big_times}, rss, cold)
    if args.json:
        config = {k: getattr(args, k) for k in ("repeat", "small_count", "big_mib", "cold_runs")}
        Path(args.json).write_text(json.dumps({"config": config, **result}, indent=2) + "\n")


if __name__ == "__main__":
    main()
