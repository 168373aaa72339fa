"""DNS zones as BIND zone files in a folder on disk (POSIX).

``<folder>/<domain>.zone`` holds one zone in the standard format written by
:func:`driver_core.zonefile.write`, so an authoritative server can serve the folder
as it is; ``<folder>/.<domain>.zone.lock`` is the zone's flock. A change reads the
file under the exclusive lock, applies the record sets, bumps the SOA serial and
writes a temp file in the same folder that is fsynced and renamed over the zone
file: readers (who take no lock) always see a whole file, and concurrent writers,
in threads or processes, never lose each other's changes.

Zone names go through :func:`driver_core.dnsvalues.domain` (no ``/``, ``..`` or NUL
can pass) and the resulting path is checked once more to lie in the folder; zone
files are opened without following symbolic links.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from ... import dnsvalues, zonefile
from ...dns import DNSDriver
from ...errors import Conflict, DriverError, NotFound, ProviderError, ValidationError
from ...models import Record, Zone
from ...profiles import ConnectionOptions
from ...transport import paginate, paginate_sequence
from . import folder_from_endpoint, os_errors

#: The environment variable naming the zone folder (resolved by :mod:`driver_core.profiles`).
ENV_VAR = "DRIVER_CORE_LOCAL_DNS"
SUFFIX = ".zone"
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


class LocalDNSDriver(DNSDriver):
    """Zones are BIND zone files in a folder. Safe to share between threads and processes.

    ``options``: ``page_size`` (listing pages) and ``nameservers`` (the apex NS names a new
    zone gets; default ``ns1.<domain>.``, which a server loads only once it has an address).
    """

    provider: ClassVar[str] = "local"

    def __init__(self, options: ConnectionOptions) -> None:
        super().__init__(options)
        self.folder = folder_from_endpoint(options.endpoint, what="zone folder", env_var=ENV_VAR)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail(ValidationError, f"cannot use {self.folder} as the zone folder: {exc.strerror}") from None
        self.nameservers = self._nameservers(options.options.get("nameservers"))

    def _fail(self, cls: type[DriverError], message: str) -> DriverError:
        return cls(message, provider=self.provider)

    def _nameservers(self, raw: object) -> list[str] | None:
        if raw is None:
            return None
        names = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) for n in names):
            raise self._fail(ValidationError, "option nameservers must be a list of host names")
        return sorted({dnsvalues.target(n, "nameserver") for n in names})

    # ------------------------------------------------------- files and locks
    def _path(self, domain: str) -> Path:
        """The zone file of ``domain``, which can only be a file directly in the folder."""
        name = dnsvalues.domain(domain)
        if "*" in name:
            raise self._fail(ValidationError, f"{domain!r} is not a zone name (a wildcard cannot be a zone)")
        path = os.path.normpath(os.path.join(self.folder, name + SUFFIX))
        if os.path.dirname(path) != str(self.folder) or os.path.basename(path).startswith("."):
            raise self._fail(ValidationError, f"zone name {domain!r} would leave the zone folder")
        return Path(path)

    @contextlib.contextmanager
    def _lock(self, domain: str) -> Iterator[Path]:
        """The zone's exclusive lock. The lock file is removed when the zone does not exist (so
        deleted zones leave nothing behind); a waiter may thus lock a removed file, so after
        locking it checks that the path still names the file it holds, and otherwise retries."""
        lock_path = self.folder / f".{domain}{SUFFIX}.lock"
        while True:
            fd = os.open(lock_path, LOCK_FLAGS, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                try:
                    now = os.stat(lock_path, follow_symlinks=False)
                    current = (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)
                except FileNotFoundError:
                    current = False
                if current:
                    try:
                        yield lock_path
                    finally:
                        if not os.path.lexists(self._path(domain)):  # no zone, no lock file left behind
                            with contextlib.suppress(OSError):
                                os.unlink(lock_path)
                    return
            finally:
                os.close(fd)

    def _read_text(self, domain: str) -> str:
        path = self._path(domain)
        with os_errors(f"zone {domain!r}"):
            fd = os.open(path, READ_FLAGS)
            with open(fd, "rb") as handle:
                data = handle.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(ProviderError, f"the zone file {path} is not UTF-8 text") from None

    def _load(self, domain: str) -> zonefile.ZoneData:
        """The parsed zone file; a file that does not parse is the provider's fault, not the caller's."""
        text = self._read_text(domain)
        try:
            return zonefile.parse(text, domain)
        except ValidationError as exc:
            raise self._fail(ProviderError, f"the zone file {self._path(domain)} is invalid: {exc.message}") from None

    def _replace(self, domain: str, text: str) -> None:
        """Write the zone file atomically: a temp file in the same folder, fsynced, renamed into place."""
        path = self._path(domain)
        temp = self.folder / f".{domain}{SUFFIX}.{secrets.token_hex(8)}.tmp"
        with os_errors(f"zone {domain!r}"):
            fd = os.open(temp, TEMP_FLAGS, 0o644)
            try:
                with open(fd, "wb") as handle:
                    handle.write(text.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self._sync_folder()

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- zones
    def _zone_of(self, domain: str, data: zonefile.ZoneData) -> Zone:
        serial = zonefile.soa_serial(data.soa) if data.soa else None
        return Zone(
            domain=domain, id=domain, ttl=data.default_ttl, extra={"path": str(self._path(domain)), "serial": serial}
        )

    def _domains(self) -> list[str]:
        """The domains of the zone files in the folder, sorted (links and odd names are skipped)."""
        found = []
        with os_errors("the zone folder"), os.scandir(self.folder) as entries:
            for entry in entries:
                stem = entry.name[: -len(SUFFIX)]
                if not entry.name.endswith(SUFFIX) or entry.name.startswith("."):
                    continue
                with contextlib.suppress(ValidationError):
                    if dnsvalues.domain(stem) == stem and entry.is_file(follow_symlinks=False):
                        found.append(stem)
        return sorted(found)

    def iterate_zones(self) -> Iterator[Zone]:
        """Every zone file in the folder, sorted by domain. A file that does not parse is
        listed with ``extra['error']`` saying why (its records cannot be read)."""

        def fetch(marker: str | None) -> tuple[list[Zone], str | None]:
            page = [d for d in self._domains() if marker is None or d > marker][: self.page_size]
            zones = []
            for name in page:
                try:
                    zones.append(self._zone_of(name, self._load(name)))
                except NotFound:
                    continue  # deleted since the folder was listed
                except ProviderError as exc:
                    path = str(self._path(name))
                    zones.append(Zone(name, name, None, {"path": path, "serial": None, "error": exc.message}))
            return zones, (page[-1] if len(page) == self.page_size else None)

        return paginate(fetch)

    def get_zone(self, domain: str) -> Zone:
        """The zone of ``domain``, read from its file (no scan); :class:`NotFound` when there is none."""
        name = dnsvalues.domain(domain)
        self._path(name)
        return self._zone_of(name, self._load(name))

    def _create_zone(self, domain: str, ttl: int) -> Zone:
        path = self._path(domain)
        apex_ns = Record(zone=domain, name="@", type="NS", ttl=ttl, values=self.nameservers or [f"ns1.{domain}."])
        text = zonefile.write(domain, [apex_ns], soa=None, default_ttl=ttl)
        with self._lock(domain):
            if os.path.lexists(path):
                raise self._fail(Conflict, f"zone {domain!r} already exists ({path})")
            self._replace(domain, text)
        return self._zone_of(domain, zonefile.parse(text, domain))

    def _delete_zone(self, zone: Zone) -> None:
        path = self._path(zone.domain)
        with self._lock(zone.domain), os_errors(f"zone {zone.domain!r}"):
            os.unlink(path)
            self._sync_folder()  # the lock file goes too as the lock is released; waiters then retry

    # --------------------------------------------------------------- records
    def _iterate_records(self, zone: Zone) -> Iterator[Record]:
        """The record sets of one reading of the zone file (SOA excepted), page by page."""
        records = [r for r in self._load(zone.domain).records if r.type != zonefile.SOA]
        return paginate_sequence(records, self.page_size)

    def _soa(self, zone: Zone) -> str | None:
        return self._load(zone.domain).soa

    def _change(self, zone: Zone, *, upserts: list[Record], deletes: list[Record]) -> None:
        """Rewrite the zone file under its lock: deletes, then upserts (whole record sets), new serial."""
        domain = dnsvalues.domain(zone.domain)
        with self._lock(domain):
            data = self._load(domain)
            soa = next((r for r in data.records if r.type == zonefile.SOA), None)
            sets = {(r.name, r.type): r for r in data.records if r.type != zonefile.SOA}
            for r in deletes:
                sets.pop((r.name, r.type), None)
            for r in upserts:
                sets[r.name, r.type] = Record(zone=domain, name=r.name, type=r.type, ttl=r.ttl, values=list(r.values))
            new_soa = zonefile.bump_serial(data.soa or zonefile.default_soa(domain))
            soa_record = Record(domain, "@", zonefile.SOA, soa.ttl if soa else None, [new_soa])
            default_ttl = data.default_ttl if data.default_ttl is not None else zone.ttl
            text = zonefile.write(domain, [soa_record, *sets.values()], soa=new_soa, default_ttl=default_ttl)
            self._replace(domain, text)
