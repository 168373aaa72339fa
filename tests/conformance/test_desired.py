"""The desired-state engine against every storage and DNS provider: a first run changes, a
second changes nothing, check mode changes nothing (checked by listing the provider, not by
trusting the engine), the diff names the right fields, absent removes and is then a no-op."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from driver_core.desired import ensure
from driver_core.desired.dns import RecordResource, ZoneResource
from driver_core.desired.storage import ContainerResource, ObjectResource
from tests.conftest import pattern


def test_container_and_objects(storage: Any, workdir: Path) -> None:
    name = f"dc-test-{uuid.uuid4().hex[:12]}"
    planned = ensure(ContainerResource(storage, name=name), check=True)
    assert (planned.changed, planned.action) == (True, "create")
    assert name not in [c.name for c in storage.list_containers()]
    assert ensure(ContainerResource(storage, name=name)).changed
    assert not ensure(ContainerResource(storage, name=name)).changed

    big = workdir / "big.bin"
    big.write_bytes(pattern(storage.part_size * 2 + 5, seed=4))  # several parts where multipart is used
    for key, kw in [
        ("small.txt", {"content": "hello\n", "metadata": {"Owner": "ops"}}),
        ("big.bin", {"src": str(big)}),
    ]:
        first = ensure(ObjectResource(storage, container=name, name=key, **kw))
        assert (first.changed, first.action) == (True, "create")
        again = ensure(ObjectResource(storage, container=name, name=key, **kw))
        assert (again.changed, again.action, again.diff) == (False, "none", {}), key

    before = storage.get_object(name, "small.txt")
    edited = ensure(ObjectResource(storage, container=name, name="small.txt", content="bye\n"), check=True)
    assert (edited.changed, edited.action) == (True, "update")
    assert set(edited.diff["after"]) == {"md5", "size"}
    assert storage.get_object(name, "small.txt").md5 == before.md5  # check mode uploaded nothing
    meta = ensure(
        ObjectResource(storage, container=name, name="small.txt", content="hello\n", metadata={"owner": "dev"})
    )
    assert meta.diff == {"before": {"metadata": {"owner": "ops"}}, "after": {"metadata": {"owner": "dev"}}}
    assert storage.get_object(name, "small.txt").metadata == {"owner": "dev"}

    gone = ensure(ObjectResource(storage, container=name, name="small.txt", state="absent"))
    assert (gone.changed, gone.action) == (True, "delete")
    assert not ensure(ObjectResource(storage, container=name, name="small.txt", state="absent")).changed
    assert ensure(ContainerResource(storage, name=name, state="absent", force=True)).changed
    assert name not in [c.name for c in storage.list_containers()]
    assert not ensure(ContainerResource(storage, name=name, state="absent")).changed


def test_zone_and_record_sets(dns: Any) -> None:
    domain = f"dc-{uuid.uuid4().hex[:10]}.test"
    assert ensure(ZoneResource(dns, name=domain), check=True).action == "create"
    assert domain not in [z.domain for z in dns.list_zones()]
    assert ensure(ZoneResource(dns, name=domain, ttl=600)).changed
    assert not ensure(ZoneResource(dns, name=domain + ".", ttl=600)).changed

    spec = {"zone": domain, "name": "www", "type": "A", "values": ["192.0.2.2", "192.0.2.1"], "ttl": 300}
    assert ensure(RecordResource(dns, **spec)).action == "create"
    # the same record in other words: absolute name, other case, other order, no TTL given
    same = {"zone": domain.upper(), "name": f"WWW.{domain}.", "type": "a", "values": ["192.0.2.1", "192.0.2.2"]}
    assert not ensure(RecordResource(dns, **same)).changed
    txt = {"zone": domain, "name": "@", "type": "TXT", "values": ["v=spf1 -all"]}
    assert ensure(RecordResource(dns, **txt)).changed
    assert not ensure(RecordResource(dns, **{**txt, "values": ['"v=spf1 -all"']})).changed

    change = ensure(RecordResource(dns, **{**spec, "values": ["192.0.2.9"]}), check=True)
    assert change.action == "update" and change.diff["after"] == {"values": ["192.0.2.9"]}
    assert dns.get_record(domain, "www", "A").values == ["192.0.2.1", "192.0.2.2"]  # unchanged by check mode
    ttl_only = ensure(RecordResource(dns, **{**spec, "ttl": 900}))
    assert ttl_only.diff == {"before": {"ttl": 300}, "after": {"ttl": 900}}
    assert dns.get_record(domain, "www", "A").ttl == 900

    assert ensure(RecordResource(dns, zone=domain, name="www", type="A", state="absent")).action == "delete"
    assert not ensure(RecordResource(dns, zone=domain, name="www", type="A", state="absent")).changed
    assert ensure(ZoneResource(dns, name=domain, state="absent")).changed
    assert not ensure(ZoneResource(dns, name=domain, state="absent")).changed
    assert not ensure(RecordResource(dns, zone=domain, name="www", type="A", state="absent")).changed
