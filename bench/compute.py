"""Compute benchmark: driver-core's EC2 driver against boto3 and apache-libcloud on one local moto server.

Run from the repository root with ``python bench/compute.py`` (see ``bench/README.md``). It is a
measurement, not a test: it always exits 0 once it has measured, whatever the targets say.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET, REGION, SIZE = "bench", "bench", "us-east-1", "t3.micro"
CLIENTS = ("driver-core", "boto3", "libcloud")
LIST_TARGET = 1.0  # driver-core's listing time must be <= this x boto3's
SPEEDUP_TARGET = 6.0  # serial creates must take >= this x as long as create_nodes(concurrency=N)
METRICS = ("wall", "client_cpu", "moto_cpu")
Run = dict[str, float]  # metric -> seconds
Runs = dict[str, dict[str, list[Run]]]  # workload -> client or mode -> runs


# ------------------------------------------------------------- moto server
@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, int]]:
    """The launcher the tests use (tests/backends.py), stopped on exit, even on Ctrl-C; yields (url, pid)."""
    sys.path.insert(0, str(ROOT))
    from tests.backends import running, start_moto

    with running(start_moto()) as server:
        yield server.url, server.process.pid


def moto_cpu(pid: int) -> float:
    """User + system CPU seconds the moto process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset(url: str) -> None:
    import requests

    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


def register_image(d: Any) -> str:
    """An AMI of our own: moto runs without its default AMIs (as in tests/unit/test_ec2.py)."""
    image: str = d._call("RegisterImage", [("Name", "bench-image"), ("RootDeviceName", "/dev/sda1")]).findtext(
        "imageId"
    )
    return image


def boto3_ec2(url: str) -> Any:
    import boto3

    creds = {"aws_access_key_id": KEY, "aws_secret_access_key": SECRET}
    return boto3.client("ec2", endpoint_url=url, region_name=REGION, **creds)


def populate(url: str, image: str, count: int) -> None:
    """``count`` instances in RunInstances batches of up to 100, each batch with its own Name tag."""
    ec2 = boto3_ec2(url)
    for batch, start in enumerate(range(0, count, 100)):
        n = min(100, count - start)
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": f"bench-list-{batch}"}]}]
        ec2.run_instances(ImageId=image, InstanceType=SIZE, MinCount=n, MaxCount=n, TagSpecifications=tags)


# ---------------------------------------------------------------- listers
def driver_core_driver(url: str) -> Any:
    import driver_core

    return driver_core.get_driver("compute", "aws", key=KEY, secret=SECRET, endpoint=url, options={"page_size": 1000})


def driver_core_lister(url: str) -> Callable[[], int]:
    d = driver_core_driver(url)
    return lambda: len(d.list_nodes())  # terminated nodes are left out by the driver


def boto3_lister(url: str) -> Callable[[], int]:
    ec2 = boto3_ec2(url)

    def count() -> int:
        pages = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 1000})
        instances = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return sum(i["State"]["Name"] != "terminated" for i in instances)

    return count


def libcloud_lister(url: str) -> Callable[[], int]:
    from libcloud.compute.drivers import ec2
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import NodeState, Provider

    # moto answers with xmlns ".../doc/2016-11-15" where libcloud looks for ".../2016-11-15/" (and finds nothing).
    ec2.NAMESPACE = ec2.NAMESPACE.rstrip("/")
    host, port = url.rsplit("//", 1)[1].split(":")
    cls: Any = get_driver(Provider.EC2)
    # SigV4, so moto routes on the credential scope (libcloud's default SigV2 lands in moto's S3).
    d = cls(KEY, SECRET, host=host, port=int(port), secure=False, region=REGION, signature_version="4")
    return lambda: sum(n.state != NodeState.TERMINATED for n in d.list_nodes())


LISTERS: dict[str, Callable[[str], Callable[[], int]]] = dict(
    zip(CLIENTS, (driver_core_lister, boto3_lister, libcloud_lister))
)


# ---------------------------------------------------------------- measuring
def measure(pid: int, fn: Callable[[], Any]) -> tuple[Run, Any]:
    """Wall time, this process's CPU time and moto's CPU time spent in ``fn()``."""
    cpu, server, start = time.process_time(), moto_cpu(pid), time.perf_counter()
    result = fn()
    wall = time.perf_counter() - start
    run = {"wall": wall, "client_cpu": time.process_time() - cpu, "moto_cpu": moto_cpu(pid) - server}
    return run, result


def bench_list(url: str, pid: int, nodes: int, repeat: int) -> Runs:
    listers = {name: make(url) for name, make in LISTERS.items()}
    runs: Runs = {f"list {nodes} nodes": {name: [] for name in CLIENTS}}
    for name, lister in listers.items():  # untimed warm-up, and a check that every client sees them all
        if (seen := lister()) != nodes:
            raise RuntimeError(f"{name} listed {seen} nodes, not {nodes}")
    for r in range(repeat):
        for name in CLIENTS[r % len(CLIENTS) :] + CLIENTS[: r % len(CLIENTS)]:  # rotated order
            run, seen = measure(pid, listers[name])
            if seen != nodes:
                raise RuntimeError(f"{name} listed {seen} nodes, not {nodes}")
            runs[f"list {nodes} nodes"][name].append(run)
            print(f"  list   {name:12} {run['wall']:7.3f} s  moto CPU {run['moto_cpu']:6.3f} s", file=sys.stderr)
    return runs


class ActionLog:
    """Requests per EC2 action and their summed response times, from a hook on the driver's session."""

    def __init__(self, d: Any) -> None:
        self.calls: list[tuple[str, float]] = []
        d.transport.session.hooks["response"].append(self._hook)

    def _hook(self, resp: Any, *args: Any, **kw: Any) -> None:
        body = resp.request.body
        action = dict(parse_qsl(body.decode() if isinstance(body, bytes) else body or "")).get("Action", "?")
        self.calls.append((action, resp.elapsed.total_seconds()))

    def take(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for action, seconds in self.calls:
            entry = out.setdefault(action, {"count": 0, "seconds": 0.0})
            entry["count"] += 1
            entry["seconds"] += seconds
        self.calls = []
        return out


def bench_create(url: str, pid: int, count: int, concurrency: int, repeat: int) -> tuple[Runs, dict[str, Any]]:
    from driver_core.compute import NodeSpec

    d = driver_core_driver(url)
    log = ActionLog(d)
    modes: dict[str, Callable[[str], list[Any]]] = {
        "serial": lambda image: [d.create_node(f"bench-{i}", SIZE, image) for i in range(count)],
        f"concurrent ({concurrency})": lambda image: d.create_nodes(
            [NodeSpec(name=f"bench-{i}", size=SIZE, image=image) for i in range(count)], concurrency=concurrency
        ),
    }
    workload = f"create {count} nodes"
    runs: Runs = {workload: {mode: [] for mode in modes}}
    actions: dict[str, list[dict[str, dict[str, float]]]] = {mode: [] for mode in modes}
    reset(url)  # untimed warm-up of both paths
    modes[f"concurrent ({concurrency})"](register_image(d))
    d.create_node("warm-up", SIZE, register_image(d))
    for r in range(repeat):
        for mode in list(modes)[:: 1 if r % 2 == 0 else -1]:  # alternate which mode goes first
            reset(url)
            image = register_image(d)
            log.take()
            run, created = measure(pid, lambda: modes[mode](image))  # noqa: B023 (called at once)
            actions[mode].append(log.take())
            if len(created) != count or len(d.list_nodes()) != count:
                raise RuntimeError(f"{mode} create made {len(created)} nodes, not {count}")
            runs[workload][mode].append(run)
            print(f"  create {mode:16} {run['wall']:7.3f} s  moto CPU {run['moto_cpu']:6.3f} s", file=sys.stderr)
    return runs, actions


# ---------------------------------------------------------------- reporting
def _check(checks: list[dict[str, Any]], what: str, value: float, target: float, at_least: bool = False) -> str:
    ok = value >= target if at_least else value <= target
    checks.append({"what": what, "value": value, "target": target, "at_least": at_least, "pass": ok})
    return "PASS" if ok else "MISS"


def _medians(runs: Runs) -> dict[str, dict[str, Run]]:
    return {
        w: {c: {m: statistics.median(run[m] for run in rs) for m in METRICS} for c, rs in per.items()}
        for w, per in runs.items()
    }


def report(runs: Runs, actions: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """Print the tables and return the medians for --json."""
    med = _medians(runs)
    for w, per in med.items():
        cols = list(per)
        listing = w.startswith("list")
        head = f"{w + ' (median s)':26}" + "".join(f"{c:>17}" for c in cols)
        head += f"{f'dc/boto3 (<={LIST_TARGET:g})':>22}{'dc/libcloud':>14}" if listing else ""
        head += "" if listing else f"{f'serial/concurrent (>={SPEEDUP_TARGET:g})':>32}"
        print("\n" + head + "\n" + "-" * len(head))
        for m in METRICS:
            line = f"{m.replace('_', ' '):26}" + "".join(f"{per[c][m]:>17.3f}" for c in cols)
            if listing and m == "wall":
                ratio = per["driver-core"]["wall"] / per["boto3"]["wall"]
                line += f"{ratio:>17.2f} {_check(checks, f'{w} driver-core/boto3', ratio, LIST_TARGET)}"
                line += f"{per['driver-core']['wall'] / per['libcloud']['wall']:>14.2f}"
            elif m == "wall":
                ratio = per[cols[0]]["wall"] / per[cols[1]]["wall"]
                check = _check(checks, f"{w} serial/concurrent", ratio, SPEEDUP_TARGET, at_least=True)
                line += f"{ratio:>27.2f} {check}"
            print(line)
    create = next(per for w, per in runs.items() if w.startswith("create"))
    print("\ndriver-core requests per create run (last run; seconds = summed response times)")
    for mode, per_run in actions.items():
        calls = per_run[-1]
        line = "".join(f"  {a} x{v['count']:.0f} {v['seconds']:6.3f} s" for a, v in calls.items())
        after_checks = create[mode][-1]["wall"] - calls.get("DescribeImages", {}).get("seconds", 0.0)
        in_flight = calls.get("RunInstances", {}).get("seconds", 0.0) / after_checks
        print(f"  {mode:16}{line}  (~{in_flight:.1f} RunInstances in flight)")
    serial, concurrent = (statistics.median(r[m] for r in rs) for rs, m in zip(create.values(), ("wall", "moto_cpu")))
    print(f"  moto serves from one process under one GIL, so its CPU time bounds any concurrency: {serial:.3f} s")
    print(f"  serial / {concurrent:.3f} s moto CPU (concurrent) = {serial / concurrent:.2f}x at best on this server")
    print(f"\nTargets: {sum(ch['pass'] for ch in checks)}/{len(checks)} PASS")
    for ch in checks:
        if not ch["pass"]:
            print(f"  MISS {ch['what']}: {ch['value']:.2f} {'<' if ch['at_least'] else '>'} {ch['target']:g}")
    return {"median": med}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--nodes", type=int, default=1000, help="instances to list")
    parser.add_argument("--create", type=int, default=100, help="instances to create, serially and in bulk")
    parser.add_argument("--concurrency", type=int, default=10, help="create_nodes(concurrency=...)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped on SIGTERM too
    sys.path.insert(0, str(ROOT))
    with moto_server() as (url, pid):
        print(f"moto at {url}; repeat={args.repeat} nodes={args.nodes} create={args.create}", file=sys.stderr)
        populate(url, register_image(driver_core_driver(url)), args.nodes)
        runs = bench_list(url, pid, args.nodes, args.repeat)
        create_runs, actions = bench_create(url, pid, args.create, args.concurrency, args.repeat)
    checks: list[dict[str, Any]] = []
    result = report({**runs, **create_runs}, actions, checks)
    if args.json:
        config = {k: getattr(args, k) for k in ("repeat", "nodes", "create", "concurrency")}
        doc = {
            "config": config,
            "runs": {**runs, **create_runs},
            **result,
            "create_requests": actions,
            "checks": checks,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
