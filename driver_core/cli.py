"""The ``driver-core`` command: apply or destroy the resources described in a YAML file.

Every resource goes through :func:`driver_core.desired.ensure`, so "changed" and the diff
mean exactly what they mean to the Python API, Ansible and Salt. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, TextIO

from .desired.engine import Resource, Result, ensure
from .errors import DriverError
from .profiles import SECRET_FIELDS, ConnectionOptions, resolve
from .registry import KINDS, PROVIDERS, driver_class

#: Resource kind -> (driver kind, "module:Class", rank). Modules are imported on first use, so a
#: kind whose module is missing fails only for a file that uses it. Lower ranks are applied
#: first and destroyed last (containers before objects, zones before records, ...).
RESOURCES: dict[str, tuple[str, str, int]] = {
    "container": ("storage", "driver_core.desired.storage:ContainerResource", 0),
    "object": ("storage", "driver_core.desired.storage:ObjectResource", 1),
    "dns_zone": ("dns", "driver_core.desired.dns:ZoneResource", 0),
    "dns_record": ("dns", "driver_core.desired.dns:RecordResource", 1),
    "key_pair": ("compute", "driver_core.desired.compute:KeyPairResource", 0),
    "volume": ("compute", "driver_core.desired.compute:VolumeResource", 0),
    "node": ("compute", "driver_core.desired.compute:NodeResource", 1),
    "load_balancer": ("loadbalancer", "driver_core.desired.loadbalancer:BalancerResource", 2),
}

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
_CONNECTION_FIELDS = {f.name for f in fields(ConnectionOptions)} | {"env"}
_ENV_FIELDS = (*SECRET_FIELDS, "region", "endpoint")
_PLAIN_FIELDS = _CONNECTION_FIELDS - set(SECRET_FIELDS)
_SYMBOLS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "none": "="}
_PAST = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}

_KIND_LIST = ", ".join(RESOURCES)
EPILOG = f"""\
The file (YAML, or JSON) has two top-level keys: `connections` (name -> connection options:
provider, profile, endpoint, region, key, secret, token, options, and env: {{field: VARIABLE}})
and `resources` (a list; each item has kind, connection, state and the resource's fields).
Resource kinds: {_KIND_LIST}.

exit codes:
  0  converged: every resource is as described (with --check: nothing would change)
  1  error: a bad file, a bad option, or a provider error (a message, never a traceback)
  2  with --check only: changes would be made
"""


class FileError(Exception):
    """The file cannot be read, parsed or understood; the message names the place."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse, except that usage errors exit 1 (2 means "changes would be made")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise _UsageError(message)


class _Output:
    """Writes lines with every known secret replaced by ``***``."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def line(self, text: str = "") -> None:
        print(self.redact(text), file=self.out)

    def error(self, text: str) -> None:
        print(self.redact(f"error: {text}"), file=self.err)


@dataclass
class Item:
    """One resource of the file, ready for :func:`ensure`."""

    index: int
    kind: str
    resource: Resource
    rank: int


# ------------------------------------------------------------------------------ the file
def load_file(path: Path) -> Any:
    """The parsed file: YAML when PyYAML is installed, else JSON (with a hint to install YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FileError(f"{path} is not UTF-8 text") from None
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileError(
                f"{path}: PyYAML is not installed, so only JSON files can be read, and this is not valid JSON "
                f"({exc.msg} at line {exc.lineno}, column {exc.colno}). Install YAML support with "
                "pip install 'driver-core[cli]' (or pip install pyyaml)"
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the problem and its position: the parser's snippet of the file could hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise FileError(f"{path}: not valid YAML: {problem}{where}") from None


def collect_secrets(data: Any) -> set[str]:
    """Every key, secret and token written in the file's connections, to keep out of the output."""
    found: set[str] = set()
    connections = data.get("connections") if isinstance(data, dict) else None
    if isinstance(connections, dict):
        for conn in connections.values():
            if isinstance(conn, dict):
                # key, secret, token, and anything unknown (a misspelt "secrte" is a secret all the same)
                found.update(str(v) for k, v in conn.items() if k not in _PLAIN_FIELDS and v not in (None, ""))
    return found


def resource_class(kind: str) -> type[Resource]:
    """The resource class of ``kind``, imported now; a clear error when its module is missing."""
    target = RESOURCES[kind][1]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise FileError(
            f"resource kind {kind!r} is not available in this version of driver-core ({module_name} is missing)"
        ) from None
    cls: type[Resource] = getattr(module, class_name)
    return cls


class Connections:
    """The file's connections; a driver per (connection, driver kind) is made on first use."""

    def __init__(self, raw: Any, out: _Output) -> None:
        if not isinstance(raw, dict) or not raw:
            raise FileError("connections: must be a mapping of connection names to connection options")
        for name, conn in raw.items():
            if not isinstance(conn, dict):
                raise FileError(f"connections.{name}: must be a mapping of connection options")
            unknown = sorted(set(conn) - _CONNECTION_FIELDS)
            if unknown:
                raise FileError(
                    f"connections.{name}: unknown option(s) {', '.join(map(str, unknown))} "
                    f"(options: {', '.join(sorted(_CONNECTION_FIELDS))}; provider settings go under options:)"
                )
        self.raw: dict[str, Any] = raw
        self.out = out
        self.drivers: dict[tuple[str, str], Any] = {}

    def options(self, name: str, kind: str) -> ConnectionOptions:
        conn = self.raw[name]
        where = f"connections.{name}"
        given = {k: v for k, v in conn.items() if k not in ("env", "provider")}
        env = conn.get("env") or {}
        if not isinstance(env, dict):
            raise FileError(f"{where}.env: must map fields ({', '.join(_ENV_FIELDS)}) to environment variable names")
        for field_name, var in env.items():
            if field_name not in _ENV_FIELDS:
                raise FileError(
                    f"{where}.env: {field_name!r} cannot come from the environment ({', '.join(_ENV_FIELDS)})"
                )
            value = os.environ.get(str(var)) or None
            if value is None:
                raise FileError(f"{where}.env.{field_name}: environment variable {var} is not set")
            given[field_name] = value
            if field_name in SECRET_FIELDS:
                self.out.secrets.add(value)
        if given.get("options") is not None and not isinstance(given["options"], dict):
            raise FileError(f"{where}.options: must be a mapping of provider settings")
        try:
            resolved = resolve(conn.get("provider"), kind, **given)
        except DriverError as exc:
            raise FileError(f"{where}: {exc}") from None
        self.out.secrets.update(str(v) for v in (resolved.key, resolved.secret, resolved.token) if v)
        return resolved

    def driver(self, name: str, kind: str) -> Any:
        if (name, kind) not in self.drivers:
            options = self.options(name, kind)
            try:
                cls = driver_class(kind, options.provider)
            except DriverError as exc:
                raise FileError(f"connections.{name}: {exc}") from None
            self.drivers[(name, kind)] = cls(options)
        return self.drivers[(name, kind)]

    def close(self) -> None:
        for driver in self.drivers.values():
            close = getattr(driver, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:  # closing is best effort; the run's outcome stands
                    pass


def build(data: Any, base: Path, connections_out: _Output, *, destroy: bool) -> tuple[Connections, list[Item]]:
    """Check the whole file and make every resource (nothing is read or changed yet)."""
    if not isinstance(data, dict):
        raise FileError("the file must be a mapping with connections: and resources:")
    unknown = sorted(set(data) - {"connections", "resources"})
    if unknown:
        raise FileError(f"unknown top-level key(s) {', '.join(map(str, unknown))} (use connections: and resources:)")
    conns = Connections(data.get("connections"), connections_out)
    raw_items = data.get("resources")
    if not isinstance(raw_items, list):
        raise FileError("resources: must be a list of resources")
    items: list[Item] = []
    try:
        for index, raw in enumerate(raw_items):
            items.append(_item(index, raw, conns, base, destroy=destroy))
    except BaseException:
        conns.close()
        raise
    return conns, items


def _item(index: int, raw: Any, conns: Connections, base: Path, *, destroy: bool) -> Item:
    where = f"resources[{index}]"
    if not isinstance(raw, dict):
        raise FileError(f"{where}: must be a mapping with kind, connection and the resource's fields")
    params = dict(raw)
    kind = params.pop("kind", None)
    if kind is None:
        raise FileError(f"{where}: missing field 'kind' (kinds: {', '.join(RESOURCES)})")
    if kind not in RESOURCES:
        raise FileError(f"{where}: unknown kind {kind!r} (kinds: {', '.join(RESOURCES)})")
    where = f"{where} ({kind})"
    conn = params.pop("connection", None)
    if conn is None and len(conns.raw) == 1:
        conn = next(iter(conns.raw))
    if conn is None:
        raise FileError(f"{where}: missing field 'connection' (connections: {', '.join(map(str, conns.raw))})")
    if conn not in conns.raw:
        raise FileError(f"{where}: connection {conn!r} is not in connections ({', '.join(map(str, conns.raw))})")
    state = params.pop("state", "present")
    if destroy:
        state = "absent"
    if kind == "object" and isinstance(params.get("src"), str):
        params["src"] = str(base / Path(params["src"]).expanduser())  # relative to the file
    driver_kind, _, rank = RESOURCES[kind]
    cls = resource_class(kind)
    driver = conns.driver(str(conn), driver_kind)
    try:
        resource = cls(driver, state=str(state), **{str(k): v for k, v in params.items()})
        _ = resource.name
    except KeyError as exc:
        raise FileError(f"{where}: missing field {exc.args[0]!r}") from None
    except DriverError as exc:
        raise FileError(f"{where}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise FileError(f"{where}: invalid value: {exc}") from None
    return Item(index, kind, resource, rank)


def order(items: list[Item], *, destroy: bool) -> list[Item]:
    """Dependency order: absent resources first, dependents before what they need; then present ones."""
    forward = sorted(items, key=lambda item: item.rank)
    if destroy:
        return forward[::-1]
    absent = [item for item in forward[::-1] if item.resource.state == "absent"]
    return absent + [item for item in forward if item.resource.state != "absent"]


# ------------------------------------------------------------------------------ output
def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def report(out: _Output, result: Result, *, diff: bool) -> None:
    """One line per resource, and with ``diff`` the changed fields below it."""
    label = "ok" if result.action == "none" else result.action
    out.line(f"{_SYMBOLS[result.action]} {label} {result.kind} {result.name}")
    if not diff or not result.changed:
        return
    before, after = result.diff.get("before", {}), result.diff.get("after", {})
    for key in sorted(set(before) | set(after)):
        if result.action == "create":
            out.line(f"    + {key}: {_show(after.get(key))}")
        elif result.action == "delete":
            out.line(f"    - {key}: {_show(before.get(key))}")
        else:
            out.line(f"    ~ {key}: {_show(before.get(key))} -> {_show(after.get(key))}")


def summary(out: _Output, results: list[Result], *, check: bool, failed: bool) -> None:
    counts = {action: sum(r.action == action for r in results) for action in _PAST}
    unchanged = sum(r.action == "none" for r in results)
    if not any(counts.values()) and not failed:
        out.line(f"no changes: {unchanged} resource(s) up to date")
        return
    parts = [f"{n} to {a}" if check else f"{n} {_PAST[a]}" for a, n in counts.items() if n]
    head = "plan" if check else ("stopped after an error" if failed else "done")
    out.line(f"{head}: {', '.join([*parts, f'{unchanged} unchanged'])}")


# ------------------------------------------------------------------------------ commands
def run(args: argparse.Namespace, out: _Output) -> int:
    """Apply or destroy the file ``args.file``; returns the exit code."""
    destroy = args.command == "destroy"
    path = Path(args.file)
    data = load_file(path)
    out.secrets |= collect_secrets(data)
    conns, items = build(data, path.resolve().parent, out, destroy=destroy)
    results: list[Result] = []
    try:
        for item in order(items, destroy=destroy):
            try:
                result = ensure(item.resource, check=args.check)
            except KeyError as exc:
                raise FileError(f"resources[{item.index}] ({item.kind}): missing field {exc.args[0]!r}") from None
            except DriverError as exc:
                summary(out, results, check=args.check, failed=True)
                out.error(f"resources[{item.index}] {item.kind} {item.resource.name}: {exc}")
                return EXIT_ERROR
            results.append(result)
            report(out, result, diff=args.diff)
    finally:
        conns.close()
    summary(out, results, check=args.check, failed=False)
    return EXIT_CHANGES if args.check and any(r.changed for r in results) else EXIT_OK


def list_providers(out: _Output) -> int:
    """Print the providers of each driver kind and the resource kinds the file can use."""
    for kind in KINDS:
        offered = sorted(p for k, p in PROVIDERS if k == kind)
        out.line(f"{kind}: {', '.join(offered) or 'none yet'}")
    out.line()
    out.line("resource kinds:")
    for name, (driver_kind, target, _) in RESOURCES.items():
        present = importlib.util.find_spec(target.partition(":")[0]) is not None
        out.line(f"  {name} ({driver_kind}){'' if present else ' - not available in this version'}")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="driver-core",
        description="Apply or destroy the storage, DNS, compute and load-balancer resources described in a file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("apply", "make the resources as described"), ("destroy", "delete the resources described")):
        cmd = sub.add_parser(
            name, help=text, description=text, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        cmd.add_argument("file", metavar="FILE", help="the YAML (or JSON) file describing the resources")
        cmd.add_argument("--check", action="store_true", help="change nothing; exit 2 when changes would be made")
        cmd.add_argument("--diff", action="store_true", help="show the fields that change")
    sub.add_parser(
        "providers",
        help="list the providers and resource kinds",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return top


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The command's entry point; returns the exit code (documented in ``--help``)."""
    out = _Output(stdout or sys.stdout, stderr or sys.stderr)
    try:
        args = parser().parse_args(list(argv) if argv is not None else None)
    except _UsageError as exc:
        out.error(str(exc))
        return EXIT_ERROR
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    try:
        if args.command == "providers":
            return list_providers(out)
        return run(args, out)
    except FileError as exc:
        out.error(str(exc))
    except DriverError as exc:
        out.error(str(exc))
    except KeyboardInterrupt:
        out.error("interrupted")
    except Exception as exc:  # never a traceback: say what broke, without secrets
        out.error(f"unexpected {type(exc).__name__}: {exc}")
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
