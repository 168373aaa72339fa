"""The local DNS provider: zone files in a folder, atomic rewrites, serials, locking, safety."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from driver_core import zonefile
from driver_core.errors import Conflict, NotFound, ProviderError, ValidationError
from driver_core.models import Record, Zone
from driver_core.profiles import ConnectionOptions
from driver_core.providers.local.dns import ENV_VAR, LocalDNSDriver

NAMED_CHECKZONE = "/usr/bin/named-checkzone"


def make(folder: Path | str | None, **options: object) -> LocalDNSDriver:
    return LocalDNSDriver(
        ConnectionOptions(provider="local", endpoint=None if folder is None else str(folder), options=options)
    )


@pytest.fixture
def driver(tmp_path: Path) -> LocalDNSDriver:
    return make(tmp_path / "zones")


@pytest.fixture
def zone(driver: LocalDNSDriver) -> Zone:
    return driver.create_zone("Example.COM.", ttl=600)


def serial(driver: LocalDNSDriver, domain: str = "example.com") -> int:
    value = driver.get_zone(domain).extra["serial"]
    assert isinstance(value, int)
    return value


def visible_files(driver: LocalDNSDriver) -> list[str]:
    """The folder's files but the lock files of existing zones (kept while the zone exists)."""
    names = os.listdir(driver.folder)
    return sorted(n for n in names if not (n.endswith(".zone.lock") and n[1:-5] in names))


# ------------------------------------------------------------------ set-up
def test_missing_endpoint_names_the_environment_variable() -> None:
    with pytest.raises(ValidationError, match=ENV_VAR):
        make(None)
    assert ENV_VAR == "DRIVER_CORE_LOCAL_DNS"


def test_folder_is_created_and_file_urls_work(tmp_path: Path) -> None:
    driver = make(f"file://{tmp_path}/a/b")
    assert driver.folder == (tmp_path / "a" / "b").resolve()
    assert driver.folder.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="not a folder"):
        make(tmp_path / "file")
    with pytest.raises(ValidationError, match="host"):
        make("file://elsewhere/zones")


# ------------------------------------------------------------------- zones
def test_create_zone_writes_a_standard_zone_file(driver: LocalDNSDriver, zone: Zone) -> None:
    path = driver.folder / "example.com.zone"
    assert zone == Zone("example.com", "example.com", 600, {"path": str(path), "serial": zone.extra["serial"]})
    assert zone.extra["serial"] == int(f"{datetime.now(timezone.utc).date():%Y%m%d}01")
    text = path.read_text()
    assert text.startswith("$ORIGIN example.com.\n$TTL 600\n")
    records = zonefile.read(text, "example.com")
    assert [(r.name, r.type, r.values) for r in records] == [
        ("@", "SOA", [f"ns1.example.com. hostmaster.example.com. {zone.extra['serial']} 3600 600 1209600 300"]),
        ("@", "NS", ["ns1.example.com."]),
    ]
    assert driver.list_records(zone) == [Record("example.com", "@", "NS", 600, ["ns1.example.com."])]
    assert visible_files(driver) == ["example.com.zone"]  # no lock or temp files left behind


def test_create_existing_zone_is_a_conflict(driver: LocalDNSDriver, zone: Zone) -> None:
    before = (driver.folder / "example.com.zone").read_bytes()
    with pytest.raises(Conflict, match="already exists"):
        driver.create_zone("example.com")
    assert (driver.folder / "example.com.zone").read_bytes() == before


def test_get_and_delete_zone(driver: LocalDNSDriver, zone: Zone) -> None:
    assert driver.get_zone("EXAMPLE.com.") == zone
    driver.delete_zone("example.com")
    assert os.listdir(driver.folder) == []  # the lock file went with the zone
    with pytest.raises(NotFound):
        driver.get_zone("example.com")
    with pytest.raises(NotFound):
        driver.delete_zone(zone)
    with pytest.raises(NotFound):
        driver.list_records(zone)
    with pytest.raises(NotFound):
        driver.create_record(zone, "www", "A", "192.0.2.1")
    assert os.listdir(driver.folder) == []


def test_list_zones_sorted_across_pages(tmp_path: Path) -> None:
    driver = make(tmp_path, page_size=2)
    names = ["b.example", "a-b.example", "a.example", "c.example", "z.test"]
    for name in names:
        driver.create_zone(name)
    (tmp_path / "notes.txt").write_text("not a zone")
    (tmp_path / "Upper.example.zone").write_text("not a normal name")
    os.symlink(tmp_path / "a.example.zone", tmp_path / "link.example.zone")
    zones = driver.list_zones()
    assert [z.domain for z in zones] == sorted(names)
    assert all(z.id == z.domain and z.ttl == 3600 for z in zones)


def test_broken_zone_file_is_listed_with_its_error(driver: LocalDNSDriver, zone: Zone) -> None:
    (driver.folder / "broken.example.zone").write_text("$TTL 60\nx 60 IN HINFO a b\n")
    broken = next(z for z in driver.list_zones() if z.domain == "broken.example")
    assert "line 2" in broken.extra["error"]
    with pytest.raises(ProviderError, match=r"broken\.example\.zone is invalid: line 2: .*HINFO"):
        driver.list_records("broken.example")


@pytest.mark.parametrize(
    "name", ["../x", "..", "a/b", "/etc/passwd", "x\x00y", "a..b", ".hidden", "*.example.com", "a\\b", "", " "]
)
def test_escape_attempts_are_rejected(tmp_path: Path, name: str) -> None:
    driver = make(tmp_path / "zones")
    for call in (driver.create_zone, driver.get_zone, driver.delete_zone):
        with pytest.raises(ValidationError):
            call(name)
    assert visible_files(driver) == []
    assert sorted(os.listdir(tmp_path)) == ["zones"]


def test_a_linked_zone_file_is_never_followed(driver: LocalDNSDriver, tmp_path: Path) -> None:
    secret = tmp_path / "secret.zone"
    secret.write_text("$ORIGIN example.org.\n@ 60 IN SOA a. b. 1 2 3 4 5\n")
    os.symlink(secret, driver.folder / "example.org.zone")
    with pytest.raises(ValidationError, match="symbolic link"):
        driver.get_zone("example.org")


# ----------------------------------------------------------------- records
def test_record_changes_bump_the_serial(driver: LocalDNSDriver, zone: Zone) -> None:
    serials = [serial(driver)]
    driver.create_record(zone, "www", "A", ["192.0.2.2", "192.0.2.1"], ttl=60)
    serials.append(serial(driver))
    driver.update_record(zone, "www.example.com.", "a", "192.0.2.3")
    serials.append(serial(driver))
    driver.create_record(zone, "@", "MX", "10 mail.example.com")
    serials.append(serial(driver))
    driver.delete_record(zone, "www", "A")
    serials.append(serial(driver))
    assert serials == sorted(set(serials)) and len(serials) == 5
    assert driver.list_records(zone) == [
        Record("example.com", "@", "MX", 600, ["10 mail.example.com."]),
        Record("example.com", "@", "NS", 600, ["ns1.example.com."]),
    ]


def test_record_conflicts_and_missing_records(driver: LocalDNSDriver, zone: Zone) -> None:
    driver.create_record(zone, "www", "A", "192.0.2.1")
    with pytest.raises(Conflict):
        driver.create_record(zone, "www", "A", "192.0.2.9")
    with pytest.raises(NotFound):
        driver.update_record(zone, "ftp", "A", "192.0.2.1")
    with pytest.raises(NotFound):
        driver.delete_record(zone, "ftp", "A")
    assert driver.get_record(zone, "www", "A").values == ["192.0.2.1"]


def test_records_paginate(tmp_path: Path) -> None:
    driver = make(tmp_path, page_size=3)
    zone = driver.create_zone("example.com")
    driver.import_bind(zone, "".join(f"h{i:02d} 60 IN A 192.0.2.{i}\n" for i in range(10)))
    assert [r.name for r in driver.iterate_records(zone)] == ["@"] + [f"h{i:02d}" for i in range(10)]


def test_rewrite_is_atomic_and_leaves_nothing_behind(driver: LocalDNSDriver, zone: Zone) -> None:
    path = driver.folder / "example.com.zone"
    inode = path.stat().st_ino
    driver.create_record(zone, "www", "A", "192.0.2.1")
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place
    assert visible_files(driver) == ["example.com.zone"]
    stop = threading.Event()
    seen: list[int] = []
    failures: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                records = zonefile.read(path.read_text(), "example.com")
                seen.append(len(records))
                time.sleep(0.0005)
            except BaseException as exc:  # a torn read would fail to parse or lose records
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            driver.create_record(zone, f"r{i}", "TXT", "x" * 1000)
    finally:
        stop.set()
        thread.join()
    assert not failures
    assert seen == sorted(seen)  # every read saw a whole file, never fewer records than before


def test_concurrent_writers_lose_nothing(driver: LocalDNSDriver, zone: Zone) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(t: int) -> None:
        barrier.wait()
        try:
            for i in range(10):
                driver.create_record(zone, f"t{t}-{i}", "A", f"192.0.2.{t * 10 + i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    names = {r.name for r in driver.list_records(zone) if r.type == "A"}
    assert names == {f"t{t}-{i}" for t in range(8) for i in range(10)}
    assert serial(driver) == zone.extra["serial"] + 80  # one bump per change, none lost
    assert visible_files(driver) == ["example.com.zone"]


def test_concurrent_create_and_delete_of_zones(tmp_path: Path) -> None:
    driver = make(tmp_path)
    errors: list[BaseException] = []

    def churn(t: int) -> None:
        try:
            for _ in range(15):
                try:
                    driver.create_zone("churn.example")
                except Conflict:
                    pass
                try:
                    driver.delete_zone("churn.example")
                except NotFound:
                    pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [f for f in os.listdir(tmp_path) if f != "churn.example.zone"] == []


# -------------------------------------------------------------- zone files
def test_export_import_round_trip(driver: LocalDNSDriver, zone: Zone) -> None:
    driver.create_record(zone, "www", "A", ["192.0.2.1", "192.0.2.2"], ttl=60)
    driver.create_record(zone, "txt", "TXT", ['"v=spf1 -all"', 'café; "quoted"'])
    driver.create_record(zone, "_sip._tcp", "SRV", "10 5 5060 sip.example.net")
    driver.create_record(zone, "@", "CAA", '0 issue "letsencrypt.org"')
    before = driver.list_records(zone)
    text = driver.export_bind(zone)
    assert text == (driver.folder / "example.com.zone").read_text()
    soa = zonefile.read(text, "example.com")[0]
    assert soa.type == "SOA" and int(soa.values[0].split()[2]) == serial(driver)

    other = driver.create_zone("example.net")
    driver.import_bind(other, text.replace("example.com", "example.net"))
    assert [(r.name, r.type, r.ttl) for r in driver.list_records(other)] == [(r.name, r.type, r.ttl) for r in before]

    for record in before:
        if record.name != "@":
            driver.delete_record(zone, record.name, record.type)
    driver.import_bind(zone, text)
    assert driver.list_records(zone) == before

    driver.import_bind(zone, "www 60 IN A 192.0.2.7\n", replace=True)
    assert [(r.name, r.type, r.values) for r in driver.list_records(zone)] == [
        ("@", "NS", ["ns1.example.com."]),
        ("www", "A", ["192.0.2.7"]),
    ]


def test_hand_edited_zone_file_is_read_as_is(driver: LocalDNSDriver) -> None:
    (driver.folder / "hand.example.zone").write_text(
        "$TTL 2h\n@ IN SOA ns hostmaster ( 7 1h 10m 1w 5m )\n  IN NS ns\nns A 192.0.2.1\n"
    )
    zone = driver.get_zone("hand.example")
    assert (zone.ttl, zone.extra["serial"]) == (7200, 7)
    driver.create_record(zone, "www", "CNAME", "ns.hand.example")
    assert serial(driver, "hand.example") == int(f"{datetime.now(timezone.utc).date():%Y%m%d}00")
    assert driver.get_record(zone, "www", "CNAME").values == ["ns.hand.example."]
    assert driver.get_record(zone, "ns", "A").ttl == 7200


def test_zone_files_load_in_named(tmp_path: Path) -> None:
    driver = make(tmp_path, nameservers=["ns1.example.net.", "ns2.example.net"])
    zone = driver.create_zone("example.com")
    driver.create_record(zone, "www", "A", "192.0.2.1")
    driver.create_record(zone, "txt", "TXT", "line one\nline two ; é")
    result = subprocess.run(
        [NAMED_CHECKZONE, "example.com", str(tmp_path / "example.com.zone")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The default in-zone name server loads once it has an address, as servers require.
    default = make(tmp_path / "default")
    zone = default.create_zone("example.org")
    default.create_record(zone, "ns1", "A", "192.0.2.53")
    result = subprocess.run(
        [NAMED_CHECKZONE, "example.org", str(default.folder / "example.org.zone")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
